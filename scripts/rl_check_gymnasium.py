#!/usr/bin/env python3
"""Checks the CartPole values tests/rl_test.cpp expects (test ThreeStepsEqualHandComputedGymnasiumValues)
against gymnasium's own CartPole-v1 when gymnasium (with numpy) is installed, else against
gymnasium's step equations written out here in plain Python floats (how the test's values were made).

    python3 scripts/rl_check_gymnasium.py        # exit status 0: every value agrees to 1e-15
"""
import math
import sys

START = (0.01, -0.02, 0.03, 0.04)
ACTIONS = (1, 0, 1)
# The values the C++ test expects after each step (x, x_dot, theta, theta_dot).
EXPECTED = (
    (0.0096000000000000009, 0.17467919574755525, 0.030799999999999998, -0.24306871796000809),
    (0.013093583914951107, -0.020868848948191993, 0.025938625640799837, 0.059167999939416599),
    (0.012676206935987267, 0.17387177487348129, 0.027121985639588168, -0.22521957255967326),
)


def with_gymnasium():
    import gymnasium as gym  # noqa: raises ImportError when absent
    import numpy as np

    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    env.state = np.array(START, dtype=np.float64)
    states = []
    for a in ACTIONS:
        env.step(a)
        states.append(tuple(float(v) for v in env.state))
    return "gymnasium " + gym.__version__, states


def by_the_equations():
    # gymnasium CartPoleEnv.step, kinematics_integrator "euler", v1 constants.
    g, mc, mp, l, f_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total, pml = mp + mc, mp * l
    x, x_dot, th, th_dot = START
    states = []
    for a in ACTIONS:
        force = f_mag if a == 1 else -f_mag
        c, s = math.cos(th), math.sin(th)
        temp = (force + pml * th_dot**2 * s) / total
        th_acc = (g * s - c * temp) / (l * (4.0 / 3.0 - mp * c**2 / total))
        x_acc = temp - pml * th_acc * c / total
        x, x_dot, th, th_dot = x + tau * x_dot, x_dot + tau * x_acc, th + tau * th_dot, th_dot + tau * th_acc
        states.append((x, x_dot, th, th_dot))
    return "gymnasium's equations in plain Python (gymnasium not installed)", states


def main():
    try:
        source, states = with_gymnasium()
    except ImportError:
        source, states = by_the_equations()
    worst = max(abs(a - b) for got, want in zip(states, EXPECTED) for a, b in zip(got, want))
    print(f"reference: {source}; largest difference from the test's values: {worst:.3g}")
    return 0 if worst <= 1e-15 else 1


if __name__ == "__main__":
    sys.exit(main())
