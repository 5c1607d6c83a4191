# Smoke runs of example 07 (DP-FedAvg on Fashion-MNIST): a few rounds, and the budget stop.
# (included from examples/examples.cmake by the lead)
if(FEDPP_BUILD_TESTS AND TARGET 07_differential_privacy)
  add_test(NAME example_07_differential_privacy_short
           COMMAND 07_differential_privacy --max-rounds 20 --eval-every 20 --reproducible-noise)
  set_tests_properties(example_07_differential_privacy_short PROPERTIES LABELS example TIMEOUT 300
                       PASS_REGULAR_EXPRESSION "max rounds after 20 rounds: epsilon = [0-9.]+ at delta = 1e-05")
  # σ = 2.5, q = 0.015: ε = 0.2 is reached after about 60 rounds (RDP), then the loop stops
  add_test(NAME example_07_differential_privacy_budget_stop
           COMMAND 07_differential_privacy --noise-multiplier 2.5 --epsilon 0.2 --eval-every 5 --reproducible-noise)
  set_tests_properties(example_07_differential_privacy_budget_stop PROPERTIES LABELS example TIMEOUT 300
                       PASS_REGULAR_EXPRESSION "budget reached after [0-9]+ rounds: epsilon = 0\\.1[0-9]+")
endif()
