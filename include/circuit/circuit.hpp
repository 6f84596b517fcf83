#pragma once
// circuit: circuit breakers for calls to remote peers (Nygard, Release It!).
//
//     #include <circuit/circuit.hpp>
//     circuit::circuit_breaker<> breaker;  // the 4th failure within 60 s opens it for 10 s
//     auto body = breaker.call([] { return fetch(); });
//
// Includes every public header of the core, listed below. Not included:
// the optional integrations, each with its own dependency or purpose:
// <circuit/asio.hpp> (with <circuit/call_timeout_error.hpp>),
// <circuit/spdlog.hpp>, <circuit/prometheus.hpp>, <circuit/status_page.hpp>
// and <circuit/replay.hpp>. (A <circuit/redis.hpp> is planned; it does not
// exist yet.)

#include <circuit/call_result.hpp>
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
#include <circuit/peer_key.hpp>
#include <circuit/permit.hpp>
#include <circuit/sliding_window.hpp>
#include <circuit/state.hpp>
#include <circuit/subscription.hpp>
