// The vectorisable float exp, sigmoid and tanh of kernels/fast_math.hpp against the
// standard library (in double) over their whole useful range.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tapegrad/base/error.hpp"
#include "tapegrad/kernels/blas.hpp"
#include "tapegrad/kernels/fast_math.hpp"

TEST_CASE("fast::exp, sigmoid and tanh for float stay within their documented error of std::") {
  double worst_exp_ulps = 0, worst_sigmoid_abs = 0, worst_sigmoid_rel = 0, worst_tanh_abs = 0;
  for (int i = -870000; i <= 885000; ++i) {
    const float x = static_cast<float>(i) * 1e-4f;
    const double want = std::exp(static_cast<double>(x));
    const float got = tg::fast::exp(x);
    const double ulp =
        std::nextafter(static_cast<float>(want), std::numeric_limits<float>::infinity()) - static_cast<float>(want);
    if (want > 1e-37) worst_exp_ulps = std::max(worst_exp_ulps, std::abs(got - want) / ulp);
    if (std::abs(x) < 50) {
      const double s = 1 / (1 + std::exp(-static_cast<double>(x)));
      const double fs = tg::fast::sigmoid(x);
      worst_sigmoid_abs = std::max(worst_sigmoid_abs, std::abs(fs - s));
      worst_sigmoid_rel = std::max(worst_sigmoid_rel, std::abs(fs - s) / s);
      worst_tanh_abs = std::max(worst_tanh_abs, std::abs(tg::fast::tanh(x) - std::tanh(static_cast<double>(x))));
    }
  }
  CAPTURE(worst_exp_ulps);
  CAPTURE(worst_sigmoid_abs);
  CAPTURE(worst_sigmoid_rel);
  CAPTURE(worst_tanh_abs);
  CHECK(worst_exp_ulps <= 2.0);
  CHECK(worst_sigmoid_abs <= 2e-7);
  CHECK(worst_sigmoid_rel <= 1e-6);
  CHECK(worst_tanh_abs <= 2e-7);
  // Saturation without infinities or NaNs.
  CHECK(tg::fast::exp(-1000.0f) >= 0.0f);
  CHECK(tg::fast::exp(-1000.0f) < 1e-37f);
  CHECK(std::isfinite(tg::fast::exp(1000.0f)));
  CHECK(tg::fast::sigmoid(-1000.0f) == doctest::Approx(0.0));
  CHECK(tg::fast::sigmoid(1000.0f) == 1.0f);
  CHECK(tg::fast::tanh(1000.0f) == 1.0f);
  CHECK(tg::fast::tanh(-1000.0f) == -1.0f);
  CHECK(tg::fast::tanh(0.0f) == 0.0f);
  // Doubles go to the standard library.
  CHECK(tg::fast::tanh(0.3) == std::tanh(0.3));
}

TEST_CASE("flush_denormals flushes the calling thread's denormal floats to zero, and only that thread's") {
  auto halve = [](float x) {
    volatile float v = x;  // no constant folding
    return v * 0.5f;
  };
  const float smallest_normal = std::numeric_limits<float>::min();
  float flushed = -1.0f;
  std::thread t([&] {
    tg::flush_denormals();
    flushed = halve(smallest_normal);  // a denormal result
  });
  t.join();
#if defined(__x86_64__)
  CHECK(flushed == 0.0f);
#endif
  CHECK(halve(smallest_normal) > 0.0f);  // this thread keeps gradual underflow
}

TEST_CASE("fast::sigmoid and tanh over arrays (the CPU's widest clone) keep the same bounds, tails included") {
  // Lengths around the vector widths, so that every clone's tail loop runs.
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 1000}) {
    CAPTURE(n);
    std::vector<float> in(n), sig(n), th(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = -20.0f + 40.0f * static_cast<float>(i) / static_cast<float>(n);
    tg::fast::sigmoid(in.data(), sig.data(), n);
    tg::fast::tanh(in.data(), th.data(), n);
    double worst_sigmoid = 0, worst_tanh = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double x = in[i];
      worst_sigmoid = std::max(worst_sigmoid, std::abs(sig[i] - 1 / (1 + std::exp(-x))));
      worst_tanh = std::max(worst_tanh, std::abs(th[i] - std::tanh(x)));
    }
    CHECK(worst_sigmoid <= 2e-7);
    CHECK(worst_tanh <= 2e-7);
  }
  // In place, and doubles through the standard library.
  std::vector<double> d{-1.0, 0.0, 0.5};
  tg::fast::tanh(d.data(), d.data(), d.size());
  CHECK(d[0] == std::tanh(-1.0));
  CHECK(d[2] == std::tanh(0.5));
}

TEST_CASE("fast::exp_or_zero over arrays: within 2 ulp of std::exp, exactly 0 below -87 and for -inf") {
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 1000}) {
    CAPTURE(n);
    std::vector<float> in(n), out(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = -86.0f + 170.0f * static_cast<float>(i) / static_cast<float>(n);
    tg::fast::exp_or_zero(in.data(), out.data(), n);
    double worst_ulps = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double want = std::exp(static_cast<double>(in[i]));
      const double ulp =
          std::nextafter(static_cast<float>(want), std::numeric_limits<float>::infinity()) - static_cast<float>(want);
      worst_ulps = std::max(worst_ulps, std::abs(out[i] - want) / ulp);
    }
    CHECK(worst_ulps <= 2.0);
  }
  std::vector<float> edge{-std::numeric_limits<float>::infinity(), -1000.0f, -87.5f, -86.9f,
                          std::numeric_limits<float>::quiet_NaN()};
  tg::fast::exp_or_zero(edge.data(), edge.data(), edge.size());
  CHECK(edge[0] == 0.0f);
  CHECK(edge[1] == 0.0f);
  CHECK(edge[2] == 0.0f);
  CHECK(edge[3] > 0.0f);
  CHECK(std::isnan(edge[4]));
}

TEST_CASE("fast::max over arrays equals a chain of std::max from -inf, tails and NaN included") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  CHECK(tg::fast::max(nullptr, 0) == -inf);
  for (std::size_t n : {1, 3, 15, 16, 17, 33, 1000}) {
    CAPTURE(n);
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = std::sin(static_cast<float>(i) * 1.7f) * 100.0f;
    for (std::size_t at : {std::size_t{0}, n / 2, n - 1}) {  // the largest first, in the middle, in the tail
      std::vector<float> y = x;
      y[at] = 1000.0f;
      CHECK(tg::fast::max(y.data(), n) == 1000.0f);
      y[at] = nan;  // skipped
      float chain = -inf;
      for (float v : y) chain = std::max(chain, v);
      CHECK(tg::fast::max(y.data(), n) == chain);
    }
    std::vector<float> masked(n, -inf);
    CHECK(tg::fast::max(masked.data(), n) == -inf);
  }
}

TEST_CASE("fast::additive_score_row and its backward match the formulas in double, for every tail length") {
  std::uint64_t state = 7;
  auto uniform = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(static_cast<double>(state >> 11) / 9007199254740992.0 * 4.0 - 2.0);
  };
  for (std::size_t n : {1, 15, 16, 17, 33, 130}) {
    CAPTURE(n);
    std::vector<float> k(n), q(n), v(n), t(n), dk(n), dq(n), dv(n);
    for (std::size_t i = 0; i < n; ++i)
      k[i] = uniform(), q[i] = uniform(), v[i] = uniform(), dq[i] = uniform(), dv[i] = uniform(), dk[i] = uniform();
    const std::vector<float> dk0 = dk, dq0 = dq, dv0 = dv;
    double want = 0;
    for (std::size_t i = 0; i < n; ++i) want += std::tanh(double(k[i]) + double(q[i])) * double(v[i]);
    const float got = tg::fast::additive_score_row(k.data(), q.data(), v.data(), t.data(), n);
    CHECK(std::abs(got - want) <= 1e-5 * (1 + std::abs(want)));
    for (std::size_t i = 0; i < n; ++i) CHECK(std::abs(t[i] - std::tanh(double(k[i]) + double(q[i]))) <= 2e-7);
    const float g = 0.75f;
    for (bool add : {false, true}) {
      dk = dk0, dq = dq0, dv = dv0;
      tg::fast::additive_score_row_backward(g, t.data(), v.data(), dk.data(), add, dq.data(), dv.data(), n);
      for (std::size_t i = 0; i < n; ++i) {
        const double p = double(g) * v[i] * (1 - double(t[i]) * t[i]);
        CHECK(dk[i] == doctest::Approx((add ? dk0[i] : 0.0) + p).epsilon(1e-6));
        CHECK(dq[i] == doctest::Approx(dq0[i] + p).epsilon(1e-6));
        CHECK(dv[i] == doctest::Approx(dv0[i] + double(g) * t[i]).epsilon(1e-6));
      }
    }
    // A gradient that is not wanted is not written.
    dq = dq0;
    tg::fast::additive_score_row_backward(g, t.data(), v.data(), nullptr, false, dq.data(), nullptr, n);
    CHECK(dq != dq0);
  }
}

TEST_CASE("fast::exp_shifted_sum writes e^(x - shift), exactly 0 for -inf, and sums them in double") {
  for (std::size_t n : {1, 15, 16, 17, 1000}) {
    CAPTURE(n);
    std::vector<float> in(n), out(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<float>(std::sin(0.37 * double(i)) * 6.0);
    // A masked entry (callers treat a row of nothing but -inf apart: its shift would be -inf).
    const std::size_t masked = n > 1 ? n / 2 : n;
    if (masked < n) in[masked] = -std::numeric_limits<float>::infinity();
    const float shift = *std::max_element(in.begin(), in.end());
    double want = 0;
    for (std::size_t i = 0; i < n; ++i) want += std::exp(double(in[i]) - double(shift));
    const double got = tg::fast::exp_shifted_sum(in.data(), shift, out.data(), n);
    CHECK(got == doctest::Approx(want).epsilon(1e-6));
    if (masked < n) CHECK(out[masked] == 0.0f);
    double written = 0;
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(std::abs(out[i] - std::exp(double(in[i]) - double(shift))) <= 3e-7);
      written += out[i];
    }
    CHECK(written == doctest::Approx(got).epsilon(1e-12));
    // In place, as softmax calls it.
    std::vector<float> same = in;
    CHECK(tg::fast::exp_shifted_sum(same.data(), shift, same.data(), n) == got);
    CHECK(same == out);
  }
}

TEST_CASE("fast::exp_shifted_affine writes (e^(x - shift) - sub) * scale, exactly -sub * scale for -inf") {
  for (std::size_t n : {1, 15, 16, 17, 1000}) {
    CAPTURE(n);
    std::vector<float> in(n), out(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<float>(std::cos(0.41 * double(i)) * 5.0);
    if (n > 1) in[n / 2] = -std::numeric_limits<float>::infinity();
    const float shift = 4.5f, sub = 0.125f, scale = -0.75f;
    tg::fast::exp_shifted_affine(in.data(), shift, sub, scale, out.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const double want = (std::exp(double(in[i]) - double(shift)) - double(sub)) * double(scale);
      CHECK(std::abs(out[i] - want) <= 3e-7);
    }
    if (n > 1) CHECK(out[n / 2] == -sub * scale);
  }
}

TEST_CASE("fast::add_into adds x into acc element by element, tails included") {
  for (std::size_t n : {1, 15, 16, 17, 1000}) {
    CAPTURE(n);
    std::vector<float> acc(n), x(n), want(n);
    for (std::size_t i = 0; i < n; ++i) {
      acc[i] = static_cast<float>(i) * 0.5f;
      x[i] = 3.0f - static_cast<float>(i);
      want[i] = acc[i] + x[i];
    }
    tg::fast::add_into(acc.data(), x.data(), n);
    CHECK(acc == want);
  }
}

TEST_CASE("the array loops give each element the value its clone's one-element tail gives, at every length") {
  // Lengths up to 3 vectors of 16: each clone's vector loop and its tail both run. A call
  // with one element runs the clone's tail (plain code, compiled for the same level).
  auto one_by_one = [](auto f, const std::vector<float>& in) {
    std::vector<float> out(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) f(&in[i], &out[i], 1);
    return out;
  };
  auto sigmoid = [](const float* x, float* y, std::size_t n) { tg::fast::sigmoid(x, y, n); };
  auto tanh = [](const float* x, float* y, std::size_t n) { tg::fast::tanh(x, y, n); };
  auto exp = [](const float* x, float* y, std::size_t n) { tg::fast::exp_or_zero(x, y, n); };
  auto affine = [](const float* x, float* y, std::size_t n) {
    tg::fast::exp_shifted_affine(x, 2.5f, 0.25f, 0.5f, y, n);
  };
  for (std::size_t n = 0; n <= 50; ++n) {
    CAPTURE(n);
    std::vector<float> in(n), out(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = static_cast<float>(std::sin(1.3 * double(i)) * 12.0);
    if (n > 20) in[20] = -100.0f;  // exp's clamp and exp_or_zero's zero inside the vector loop
    if (n > 21) in[21] = 100.0f;
    tg::fast::sigmoid(in.data(), out.data(), n);
    CHECK(out == one_by_one(sigmoid, in));
    tg::fast::tanh(in.data(), out.data(), n);
    CHECK(out == one_by_one(tanh, in));
    tg::fast::exp_or_zero(in.data(), out.data(), n);
    CHECK(out == one_by_one(exp, in));
    tg::fast::exp_shifted_affine(in.data(), 2.5f, 0.25f, 0.5f, out.data(), n);
    CHECK(out == one_by_one(affine, in));
    std::vector<float> shifted(n);
    tg::fast::exp_shifted_sum(in.data(), 2.5f, shifted.data(), n);
    std::vector<float> minus(n);
    for (std::size_t i = 0; i < n; ++i) minus[i] = in[i] - 2.5f;
    CHECK(shifted == one_by_one(exp, minus));
  }
}

TEST_CASE("TAPEGRAD_ISA names the level the loops run at; a level that is not one, or above the CPU's, is refused") {
  using tg::fast::Isa;
  const char* asked = std::getenv("TAPEGRAD_ISA");
  const std::string name = asked ? asked : "";
  CAPTURE(name);
  // ctest runs this suite once as it is and once per level the CPU has (tests/CMakeLists.txt).
  CHECK(tg::fast::widest_isa() == tg::fast::requested_isa());
  CHECK(std::string(tg::fast::isa_name(tg::fast::widest_isa())) ==
        (name.empty() ? tg::fast::isa_name(tg::fast::detected_isa()) : name));
  CHECK(tg::fast::widest_isa() <= tg::fast::detected_isa());
  // requested_isa() reads the variable at each call (widest_isa() keeps its first answer).
  auto refused = [](const char* value) {
    setenv("TAPEGRAD_ISA", value, 1);
    std::string message;
    try {
      tg::fast::requested_isa();
    } catch (const tg::Error& e) {
      message = e.what();
    }
    return message;
  };
  CHECK(refused("avx3") == "TAPEGRAD_ISA=avx3: not an instruction set level; use baseline, avx2 or avx512");
  CHECK(refused("AVX2").find("not an instruction set level") != std::string::npos);
  if (tg::fast::detected_isa() < Isa::avx512) {
    CHECK(refused("avx512") ==
          std::string("TAPEGRAD_ISA=avx512: this CPU has only ") + tg::fast::isa_name(tg::fast::detected_isa()));
  }
  CHECK(refused("baseline").empty());
  setenv("TAPEGRAD_ISA", "", 1);
  CHECK(tg::fast::requested_isa() == tg::fast::detected_isa());
  if (asked)
    setenv("TAPEGRAD_ISA", name.c_str(), 1);
  else
    unsetenv("TAPEGRAD_ISA");
}
