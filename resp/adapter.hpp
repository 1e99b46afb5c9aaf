#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "resp/node.hpp"

namespace sluice::resp {

// A non-owning reference to a callable taking `const node&`: what the parser reports nodes to and
// what a request's reply is delivered through. Two words, no allocation; the referenced callable
// must outlive every call.
class adapter {
  public:
    adapter() noexcept = default;

    template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, adapter> &&
             std::is_invocable_v<F&, const node&>) adapter(F&& f)
    noexcept  // NOLINT(google-explicit-constructor): used like a function_ref
        : object_{const_cast<void*>(static_cast<const void*>(std::addressof(f)))},
          call_{[](void* obj, const node& n) {
              (*static_cast<std::remove_reference_t<F>*>(obj))(n);
          }} {}

    void operator()(const node& n) const { call_(object_, n); }
    explicit operator bool() const noexcept { return call_ != nullptr; }

  private:
    void* object_ = nullptr;
    void (*call_)(void*, const node&) = nullptr;
};

// Ignores a reply; the connection still reads it to keep replies matched.
inline constexpr struct ignore_t {
    void operator()(const node&) const noexcept {}
} ignore{};

}  // namespace sluice::resp
