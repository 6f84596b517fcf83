// <circuit/asio.hpp> under -fno-exceptions: one clear #error (see tests/asio/CMakeLists.txt).
#include <circuit/asio.hpp>

int main() {}
