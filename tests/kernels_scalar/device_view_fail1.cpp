// Must not compile: a host kernel given a device tensor_view (the memory space is not host-accessible).
#include "fedpp/kernels/kernels.hpp"

int main() {
  float* device_pointer = nullptr;
  const fedpp::device_view<float> v(device_pointer, 4);
  fedpp::kernels::scale(v, 2.0f);
}
