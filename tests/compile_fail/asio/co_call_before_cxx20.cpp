// <circuit/asio.hpp> in C++17, without coroutines: one clear #error (see tests/asio/CMakeLists.txt).
#include <circuit/asio.hpp>

int main() {}
