# CTest runs every example with short settings (label: example), so documented examples keep working.
if(FEDPP_BUILD_TESTS)
  add_test(NAME example_01_fedavg_in_process COMMAND 01_fedavg_in_process)
  set_tests_properties(example_01_fedavg_in_process PROPERTIES LABELS example PASS_REGULAR_EXPRESSION "final bias")
endif()
