# Example 16 (entity alignment by PSI): short runs of each mode; each exits 1 unless every party's
# rows name the ids plain set logic finds.
if(FEDPP_BUILD_TESTS AND TARGET 16_entity_alignment)
  add_test(NAME example_16_entity_alignment_two_parties COMMAND 16_entity_alignment --ids 2000 --no-progress)
  add_test(NAME example_16_entity_alignment_size_only COMMAND 16_entity_alignment --ids 1000 --size-only --no-progress)
  add_test(NAME example_16_entity_alignment_three_holders
           COMMAND 16_entity_alignment --ids 500 --parties 3 --overlap 0.3 --no-progress)
  set_tests_properties(example_16_entity_alignment_two_parties example_16_entity_alignment_size_only
                       example_16_entity_alignment_three_holders PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "alignment verified")
endif()
