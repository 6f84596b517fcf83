// Shared by tests/install_consumer and tests/subdir_consumer: the one place
// that names the header a downstream project includes.
#include <circuit/circuit.hpp>

// The consumers do not request a language standard themselves: C++20 must
// reach them through circuit::circuit's INTERFACE compile features.
static_assert(__cplusplus >= 202002L, "circuit::circuit must propagate C++20");

int main() { return 0; }
