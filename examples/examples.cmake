# Example 14 (federated RL on CartPole): 3 heterogeneous agents, 20 episodes each, both modes.
if(FEDPP_BUILD_TESTS AND TARGET 14_federated_rl)
  add_test(NAME example_14_federated_rl_smoke
           COMMAND 14_federated_rl --clients 3 --episodes 20 --sync-every 5 --eval-episodes 2 --hidden 16
                   --length-low 0.25 --length-high 1 --masspole-low 0.05 --masspole-high 0.3)
  set_tests_properties(example_14_federated_rl_smoke PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "federated:.*local:")
endif()
# Example 17 (privacy attacks and auditing): each attack on tiny settings; the audit twice, and the
# sigma/10 mechanism must be caught.
if(FEDPP_BUILD_TESTS AND TARGET 17_privacy_audit)
  add_test(NAME example_17_privacy_audit_membership
           COMMAND 17_privacy_audit --attack membership --members 200 --clients 4 --clients-per-round 4 --rounds 2
                   --local-epochs 1 --shadows 2 --hidden 16)
  set_tests_properties(example_17_privacy_audit_membership PROPERTIES PASS_REGULAR_EXPRESSION "LiRA offline +0\\.[0-9]+")
  add_test(NAME example_17_privacy_audit_inversion
           COMMAND 17_privacy_audit --attack inversion --inversion-hidden 8 --dlg-iterations 20)
  set_tests_properties(example_17_privacy_audit_inversion PROPERTIES PASS_REGULAR_EXPRESSION
                       "1 example \\(FedSGD update\\) +[0-9.e-]+ +[0-9.]+")
  add_test(NAME example_17_privacy_audit_backdoor
           COMMAND 17_privacy_audit --attack backdoor --clients 10 --clients-per-round 5 --rounds 1 --local-epochs 1
                   --hidden 16 --defenses fedavg,median,dp --sampling-rate 0.5)
  set_tests_properties(example_17_privacy_audit_backdoor PROPERTIES PASS_REGULAR_EXPRESSION "dp +0\\.[0-9]+ +[0-9.]+ epsilon")
  add_test(NAME example_17_privacy_audit_audit
           COMMAND 17_privacy_audit --attack audit --clients 10 --rounds 20 --local-epochs 1 --sampling-rate 0.3
                   --noise-multiplier 4 --canaries 400 --guesses 40)
  set_tests_properties(example_17_privacy_audit_audit PROPERTIES PASS_REGULAR_EXPRESSION "audit: consistent")
  add_test(NAME example_17_privacy_audit_broken
           COMMAND 17_privacy_audit --attack audit --clients 10 --rounds 20 --local-epochs 1 --sampling-rate 0.3
                   --noise-multiplier 4 --canaries 400 --guesses 40 --broken-noise 10)
  set_tests_properties(example_17_privacy_audit_broken PROPERTIES PASS_REGULAR_EXPRESSION "audit: VIOLATION")
  set_tests_properties(example_17_privacy_audit_membership example_17_privacy_audit_inversion
                       example_17_privacy_audit_backdoor example_17_privacy_audit_audit example_17_privacy_audit_broken
                       PROPERTIES LABELS example TIMEOUT 300)
endif()
# Example 19 (federated GAN): a tiny conditional run on 2,000 images under Dir(0.5), both GANs,
# Frechet distances, collapse checks, TSTR and PNG grids.
if(FEDPP_BUILD_TESTS AND TARGET 19_federated_gan)
  add_test(NAME example_19_federated_gan_smoke
           COMMAND 19_federated_gan --rounds 2 --clients 4 --partition dirichlet --alpha 0.5 --conditional
                   --train-subset 2000 --eval-every 1 --eval-samples 300 --classifier-epochs 1 --hidden 32
                   --tstr-samples 500 --png-dir "${CMAKE_CURRENT_BINARY_DIR}/example_19_png")
  set_tests_properties(example_19_federated_gan_smoke PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "Frechet distance after 2 rounds: federated [0-9.]+, central [0-9.]+.*train on synthetic, test on real")
endif()
# CTest runs every example with short settings (label: example), so documented examples keep working.
if(FEDPP_BUILD_TESTS)
  add_test(NAME example_01_fedavg_in_process COMMAND 01_fedavg_in_process)
  set_tests_properties(example_01_fedavg_in_process PROPERTIES LABELS example PASS_REGULAR_EXPRESSION "final bias")
  # A short real Fashion-MNIST run (softmax regression, 20 rounds) must beat a clear accuracy floor.
  if(TARGET 02_fashion_mnist)
    add_test(NAME example_02_fashion_mnist_short
             COMMAND 02_fashion_mnist --model softmax --rounds 20 --clients 50 --clients-per-round 10 --eval-every 20
                     --no-central --require-accuracy 0.70)
    set_tests_properties(example_02_fashion_mnist_short PROPERTIES LABELS example TIMEOUT 600)
    # Simulated devices with a deadline, over-selection and the asynchronous algorithms, briefly.
    add_test(NAME example_02_fashion_mnist_deadline
             COMMAND 02_fashion_mnist --model softmax --rounds 5 --clients 30 --clients-per-round 5 --over-selection 0.4
                     --deadline 4 --eval-every 5 --no-central)
    add_test(NAME example_02_fashion_mnist_fedbuff
             COMMAND 02_fashion_mnist --model softmax --algorithm fedbuff --rounds 5 --buffer 4 --concurrency 6
                     --clients 30 --eval-every 5 --no-central)
    add_test(NAME example_02_fashion_mnist_fedasync_simulated
             COMMAND 02_fashion_mnist --model softmax --algorithm fedasync --rounds 10 --concurrency 5 --clients 30
                     --deadline 100 --eval-every 10 --no-central)
    set_tests_properties(example_02_fashion_mnist_deadline example_02_fashion_mnist_fedbuff
                         example_02_fashion_mnist_fedasync_simulated PROPERTIES LABELS example TIMEOUT 300
                         PASS_REGULAR_EXPRESSION "federated: test accuracy")
  endif()
  # Examples 04 (robust aggregation under attack) and 05 (server optimizers, drift), briefly.
  if(TARGET 04_robust_aggregation)
    add_test(NAME example_04_robust_aggregation_smoke
             COMMAND 04_robust_aggregation --aggregator median --attack signflip --fraction 0.2 --rounds 2 --clients 20)
    set_tests_properties(example_04_robust_aggregation_smoke PROPERTIES LABELS example TIMEOUT 300
                         PASS_REGULAR_EXPRESSION "final accuracy")
  endif()
  if(TARGET 06_compression)
    add_test(NAME example_06_compression_smoke
             COMMAND 06_compression --rounds 2 --model softmax --schemes none,fp16,q8,q4,top1,top1_ef,sign_ef,sketch)
    set_tests_properties(example_06_compression_smoke PROPERTIES LABELS example TIMEOUT 300)
  endif()
  if(TARGET 05_server_optimizers)
    add_test(NAME example_05_server_optimizers_smoke COMMAND 05_server_optimizers --model softmax --rounds 3)
    set_tests_properties(example_05_server_optimizers_smoke PROPERTIES LABELS example TIMEOUT 300)
  endif()
endif()
# Example 15 (contribution evaluation, reputation-aware sampling): a few tiny rounds of each method.
if(FEDPP_BUILD_TESTS AND TARGET 15_contribution)
  add_test(NAME example_15_contribution_smoke
           COMMAND 15_contribution --rounds 3 --clients 20 --clients-per-round 5 --eval-every 3 --validation 300
                   --gtg-max-batches 2)
  add_test(NAME example_15_contribution_exact
           COMMAND 15_contribution --rounds 2 --clients 20 --clients-per-round 4 --eval-every 2 --validation 300
                   --method tmc --tmc-permutations 5 --compare-exact --samplers uniform)
  set_tests_properties(example_15_contribution_smoke example_15_contribution_exact PROPERTIES LABELS example
                       TIMEOUT 300 PASS_REGULAR_EXPRESSION "contribution \\([a-z]+, mean per round")
endif()
# Example 18 (split neural network, vertical FL): two short runs in process (with the central
# baselines; with clipped, noised activations and gradients under sum), and two MPI ranks.
if(FEDPP_BUILD_TESTS AND TARGET 18_split_nn)
  add_test(NAME example_18_split_nn_smoke
           COMMAND 18_split_nn --epochs 2 --train-examples 3000 --test-examples 1000 --require-accuracy 0.5)
  set_tests_properties(example_18_split_nn_smoke PROPERTIES LABELS example TIMEOUT 300
                       PASS_REGULAR_EXPRESSION "central \\(same architecture, both halves\\): final test accuracy")
  add_test(NAME example_18_split_nn_dp
           COMMAND 18_split_nn --epochs 1 --train-examples 2000 --test-examples 500 --combine sum --cut-clip 5
                   --cut-noise 0.5 --grad-clip 1 --grad-noise 0.5 --no-central)
  set_tests_properties(example_18_split_nn_dp PROPERTIES LABELS example TIMEOUT 300
                       PASS_REGULAR_EXPRESSION "split: final test accuracy")
endif()
if(FEDPP_BUILD_TESTS AND TARGET 18_split_nn_mpi AND MPIEXEC_EXECUTABLE)
  add_test(NAME example_18_split_nn_mpi
           COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe -np 2 $<TARGET_FILE:18_split_nn_mpi>
                   --epochs 2 --train-examples 3000 --test-examples 1000 --require-accuracy 0.5)
  set_tests_properties(example_18_split_nn_mpi PROPERTIES LABELS "mpi;example" TIMEOUT 300
                       PASS_REGULAR_EXPRESSION "split: final test accuracy"
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0;OMPI_MCA_btl_vader_single_copy_mechanism=none")
endif()
# Families' own smoke runs (each file guards on its example target).
include("${CMAKE_CURRENT_SOURCE_DIR}/differential_privacy.cmake")
if(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/secure_aggregation.cmake")
  include("${CMAKE_CURRENT_SOURCE_DIR}/secure_aggregation.cmake")
endif()
if(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/vertical.cmake")
  include("${CMAKE_CURRENT_SOURCE_DIR}/vertical.cmake")
endif()
# Example 20 (PSI + vertical logistic regression with Paillier): a short run with a small key;
# exits 1 unless PSI's alignment is right and the vertical model is within 1 point of the central one.
if(FEDPP_BUILD_TESTS AND TARGET 20_vertical_lr AND EXISTS "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv")
  add_test(NAME example_20_vertical_lr_smoke COMMAND 20_vertical_lr --key-bits 256 --epochs 2 --extra 5)
  set_tests_properties(example_20_vertical_lr_smoke PROPERTIES LABELS example TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "within 1 point of the central model")
endif()
# Example 21 (federated transfer learning on Fashion-MNIST halves): a tiny plaintext run and a tiny
# Paillier run with small keys.
if(FEDPP_BUILD_TESTS AND TARGET 21_transfer_learning)
  add_test(NAME example_21_transfer_learning_plaintext
           COMMAND 21_transfer_learning --a-rows 300 --b-rows 200 --overlap 50 --hidden 8 --dim 4 --steps 5)
  add_test(NAME example_21_transfer_learning_paillier
           COMMAND 21_transfer_learning --mode paillier --key-bits 256 --a-rows 60 --b-rows 40 --overlap 10 --hidden 4
                   --dim 3 --steps 1 --eval-rows 5)
  set_tests_properties(example_21_transfer_learning_plaintext example_21_transfer_learning_paillier PROPERTIES
                       LABELS example TIMEOUT 120 PASS_REGULAR_EXPRESSION "accuracy on B's")
endif()
