#pragma once
// The handle that keeps a listener subscribed.

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include <circuit/detail/listener_list.hpp>

namespace circuit {

/// Returned by `on_event()`. Destroying it (or calling `reset()`)
/// unsubscribes the listener; after that no other thread is inside it
/// (unless the unsubscribing thread is itself inside a listener, which
/// must not wait: the listener may still be finishing a call on another
/// thread then). Move-only. May outlive the
/// breaker. Not thread-safe: one owner at a time.
class [[nodiscard]] subscription {
 public:
  subscription() = default;
  subscription(std::weak_ptr<detail::listener_list> list, std::uint64_t id) noexcept : list_(std::move(list)), id_(id) {}
  subscription(subscription&& other) noexcept : list_(std::move(other.list_)), id_(std::exchange(other.id_, 0)) {}
  subscription& operator=(subscription&& other) noexcept {
    if (this != &other) {
      reset();
      list_ = std::move(other.list_);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  subscription(const subscription&) = delete;
  subscription& operator=(const subscription&) = delete;
  ~subscription() { reset(); }

  /// Unsubscribes now; does nothing when already unsubscribed. (Running
  /// out of memory here terminates: the listener must not outlive this.)
  void reset() noexcept {
    if (id_ == 0) return;
    if (auto list = list_.lock()) list->remove(id_);
    list_.reset();
    id_ = 0;
  }

  /// True while subscribed.
  [[nodiscard]] explicit operator bool() const noexcept { return id_ != 0; }

 private:
  std::weak_ptr<detail::listener_list> list_;
  std::uint64_t id_ = 0;
};

namespace detail {
// How a breaker or a set subscribes a listener to its list.
template <class F>
[[nodiscard]] subscription subscribe(const std::shared_ptr<listener_list>& list, F&& listener,
                                     event_filter filter = event_filter::all) {
  const auto id = list->add(std::function<void(const event&)>(std::forward<F>(listener)), filter);
  return subscription(list, id);
}
}  // namespace detail

}  // namespace circuit
