# Smoke runs of examples/08_secure_aggregation (label: example); include from examples.cmake.
# Each takes about a second: the federated demo (6 rounds, exact sums required), one
# protocol-benchmark round with 60 clients, SecAgg+ and 10 % dropout before unmasking, and three
# fedpp::server rounds with the secure-aggregation hooks beside plain FedAvg.
if(FEDPP_BUILD_TESTS AND TARGET 08_secure_aggregation)
  add_test(NAME example_08_secure_aggregation COMMAND 08_secure_aggregation --rounds 6)
  add_test(NAME example_08_secure_aggregation_protocol
           COMMAND 08_secure_aggregation --clients 60 --dim 2000 --dropout 0.1 --graph plus --drop-phase 3)
  add_test(NAME example_08_secure_aggregation_server COMMAND 08_secure_aggregation --server-rounds 3 --graph plus)
  set_tests_properties(example_08_secure_aggregation_server PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "secure rounds match plain FedAvg to fixed-point precision")
  set_tests_properties(example_08_secure_aggregation PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "every secure sum equals the plain sum exactly")
  set_tests_properties(example_08_secure_aggregation_protocol PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "sum EQUALS the plain sum")
endif()
