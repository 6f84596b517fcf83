#pragma once
// Fleet-wide breakers through Redis (target circuit::redis; hiredis and
// Threads). Several processes or hosts that protect the same peer act as
// one breaker: breakers of the same name under the same prefix share their
// state, their evidence (sliding_window, failure_rate_window) and their
// half_open probes.
//
//     circuit::redis::store fleet({.host = "127.0.0.1", .port = 6379, .prefix = "shop"});
//     circuit::circuit_breaker<> db({}, {.name = "db"});
//     auto link = fleet.share(db);      // unshared when `link` is destroyed
//
// - circuit::redis::settings, store_status: redis/settings.hpp
// - circuit::redis::store: redis/store.hpp
// - the Lua script run on the server: redis/script.hpp
// - the fleet logic, which knows nothing of Redis: fleet/engine.hpp,
//   fleet/backend.hpp (the backend concept), fleet/server_rule.hpp,
//   fleet/in_process_backend.hpp
// Not included by <circuit/circuit.hpp>.

#include <circuit/fleet/backend.hpp>
#include <circuit/fleet/engine.hpp>
#include <circuit/redis/fleet_backend.hpp>
#include <circuit/redis/settings.hpp>
#include <circuit/redis/store.hpp>
