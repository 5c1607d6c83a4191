# Runs the Fashion-MNIST job in-process and over MPI with the same flags and compares the models.
set(flags --model softmax --clients 20 --clients-per-round 8 --rounds 4 --local-epochs 1 --seed 5 --no-central)
execute_process(COMMAND ${IN_PROCESS} ${flags} --hosts 2 --save-model ${OUT}/in_process.bin
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "in-process run failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${MPIEXEC} --allow-run-as-root --oversubscribe -np 5 ${MPI_EXAMPLE} ${flags}
                        --save-model ${OUT}/mpi.bin
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "MPI run failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${COMPARE} ${OUT}/in_process.bin ${OUT}/mpi.bin RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the in-process and MPI models differ")
endif()
