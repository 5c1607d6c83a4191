/// \file attacks.hpp
/// Every simulated attack: sign_flip, scaling_attack, gaussian_noise_attack (client hooks),
/// alie_trainer, label flipping with attacker_router (trainer wrappers), attacker_set.
#pragma once

#include "fedpp/attacks/alie_attack.hpp"
#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/attacks/gaussian_noise_attack.hpp"
#include "fedpp/attacks/label_flip.hpp"
#include "fedpp/attacks/scaling_attack.hpp"
#include "fedpp/attacks/sign_flip.hpp"
