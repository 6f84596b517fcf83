#pragma once
// circuit: circuit breakers for calls to remote peers (Nygard, Release It!).
//
//     #include <circuit/circuit.hpp>
//     circuit::circuit_breaker<> breaker;          // 3 failures in 60 s open it for 10 s
//     auto body = breaker.call([] { return fetch(); });
//
// The optional integrations (<circuit/redis.hpp>, <circuit/asio.hpp>) are
// not included here.

#include <circuit/circuit_breaker.hpp>
#include <circuit/circuit_breaker_set.hpp>
#include <circuit/clock.hpp>
#include <circuit/coarse_steady_clock.hpp>
#include <circuit/consecutive_failures.hpp>
#include <circuit/counter.hpp>
#include <circuit/detect_error_codes.hpp>
#include <circuit/detect_results.hpp>
#include <circuit/error_predicate.hpp>
#include <circuit/event.hpp>
#include <circuit/exception_predicates.hpp>
#include <circuit/failure_rate_last_calls.hpp>
#include <circuit/failure_rate_window.hpp>
#include <circuit/manual_clock.hpp>
#include <circuit/metrics.hpp>
#include <circuit/net_failures.hpp>
#include <circuit/open_circuit_error.hpp>
#include <circuit/options.hpp>
#include <circuit/outcome.hpp>
#include <circuit/permit.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>
