// Splits [0, n) into contiguous ranges run on short-lived threads, the first
// on the calling thread. Every started thread is joined before anything is
// thrown: the first exception any range threw is rethrown after the join, and
// a range whose thread could not start runs on the calling thread instead.
#pragma once
#include <algorithm>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace fr {

// fn(part, begin, end) for part in [0, parts): ranges of ceil(n / parts)
// items, the last one shorter. `parts` is clamped to [1, max(n, 1)].
template <typename Fn>
void ParallelRanges(size_t n, unsigned parts, Fn&& fn) {
  parts = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(parts, std::max<size_t>(n, 1))));
  if (parts == 1) {
    fn(size_t{0}, size_t{0}, n);
    return;
  }
  const size_t chunk = (n + parts - 1) / parts;
  parts = static_cast<unsigned>((n + chunk - 1) / chunk);  // no empty range
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto run = [&](size_t part) {
    const size_t begin = std::min(n, part * chunk), end = std::min(n, begin + chunk);
    try {
      fn(part, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(parts);  // so emplace_back can only fail to start a thread
  size_t started = 1;
  for (; started < parts; ++started) {
    try {
      pool.emplace_back(run, started);
    } catch (const std::system_error&) {
      break;
    }
  }
  run(0);
  for (size_t part = started; part < parts; ++part) run(part);
  for (auto& th : pool) th.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace fr
