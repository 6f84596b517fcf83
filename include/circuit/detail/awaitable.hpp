#pragma once
// Recognizes a callable's result that is an awaitable (a coroutine's
// handle on work not done yet): call(), try_call() and wrap() refuse it,
// since they would record the outcome of creating the work, not of doing
// it. Awaitables go through co_call (<circuit/asio.hpp>).

#include <type_traits>

namespace circuit::detail {

template <class R>
concept awaitable_result = requires(std::remove_cvref_t<R>& r) { r.await_ready(); } ||
                           requires(std::remove_cvref_t<R>& r) { r.operator co_await(); } ||
                           requires(std::remove_cvref_t<R>&& r) { operator co_await(static_cast<std::remove_cvref_t<R>&&>(r)); };

}  // namespace circuit::detail
