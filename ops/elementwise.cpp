#include "tapegrad/ops/elementwise.hpp"

#include <fmt/format.h>
#include <xtensor/xmath.hpp>
#include <xtensor/xoperation.hpp>

#include "tapegrad/ops/kernel.hpp"

namespace tg {
namespace {

// Checks dtypes and broadcasting up front: xtensor's own errors lose the shapes in Release builds.
void check_binary(const char* op, const Var& a, const Var& b) {
  kernel::check_defined(op, {{"a", a}, {"b", b}});
  kernel::check_same_dtype(op, a.value(), b.value());
  kernel::broadcast_shapes(op, a.shape(), b.shape());
}

// The scalar operand of a scalar form as a constant of x's dtype, x being the
// op's input `input`, named `name`: checked here, since the op never sees x first.
Var constant_like(const char* op, const char* name, std::size_t input, const Var& x, double value) {
  kernel::check_defined(op, {{name, x}}, input);
  return scalar_like(x, value);
}

}  // namespace

// y = a + b; da = dy, db = dy
Var add(const Var& a, const Var& b) {
  check_binary("add", a, b);
  Tensor y = kernel::arithmetic(a.value(), b.value(), [](const auto& x, const auto& z) { return x + z; });
  return record("add", {a, b}, std::move(y), [](BackwardContext& c) {
    // dy itself goes to a (the last use takes it); b gets a copy.
    if (c.needs_grad(1)) c.grad_input(1) = c.grad_output();
    if (c.needs_grad(0)) c.grad_input(0) = c.take_grad_output();
  });
}

// y = a - b; da = dy, db = -dy
Var sub(const Var& a, const Var& b) {
  check_binary("sub", a, b);
  Tensor y = kernel::arithmetic(a.value(), b.value(), [](const auto& x, const auto& z) { return x - z; });
  return record("sub", {a, b}, std::move(y), [](BackwardContext& c) {
    if (c.needs_grad(1)) c.grad_input(1) = kernel::unary(c.grad_output(), [](const auto& g) { return -g; });
    if (c.needs_grad(0)) c.grad_input(0) = c.take_grad_output();
  });
}

// y = a * b; da = dy * b, db = dy * a
Var mul(const Var& a, const Var& b) {
  check_binary("mul", a, b);
  Tensor y = kernel::arithmetic(a.value(), b.value(), [](const auto& x, const auto& z) { return x * z; });
  return record("mul", {a, b}, std::move(y), [](BackwardContext& c) {
    auto times = [](const auto& g, const auto& x) { return g * x; };
    if (c.needs_grad(0)) c.grad_input(0) = kernel::arithmetic(c.grad_output(), c.input(1), times);
    if (c.needs_grad(1)) c.grad_input(1) = kernel::arithmetic(c.grad_output(), c.input(0), times);
  });
}

// y = a / b; da = dy / b, db = -dy * y / b
Var div(const Var& a, const Var& b) {
  check_binary("div", a, b);
  Tensor y = kernel::arithmetic(a.value(), b.value(), [](const auto& x, const auto& z) { return x / z; });
  return record("div", {a, b}, std::move(y), [](BackwardContext& c) {
    if (c.needs_grad(0)) {
      c.grad_input(0) =
          kernel::arithmetic(c.grad_output(), c.input(1), [](const auto& g, const auto& z) { return g / z; });
    }
    if (c.needs_grad(1)) {
      c.grad_input(1) = kernel::ternary(c.grad_output(), c.output(), c.input(1),
                                        [](const auto& g, const auto& out, const auto& z) { return -g * out / z; });
    }
  });
}

// y = a ** b; da = dy * b * a ** (b - 1), but 0 where b == 0;
// db = dy * (y * log(a)), but dy * 0 where a == 0 and b >= 0.
// The two exceptions are torch's (derivatives.yaml: pow_backward_self and
// pow_backward_exponent): they give 0 for d/da a^0 at a = 0 and d/db 0^b at
// b >= 0, where the formulas make 0 * inf or 0 * log(0), NaN.
Var pow(const Var& a, const Var& b) {
  check_binary("pow", a, b);
  Tensor y = kernel::binary(a.value(), b.value(), [](const auto& x, const auto& z) { return xt::pow(x, z); });
  return record("pow", {a, b}, std::move(y), [](BackwardContext& c) {
    if (c.needs_grad(0)) {
      c.grad_input(0) =
          kernel::ternary(c.grad_output(), c.input(0), c.input(1), [](const auto& g, const auto& x, const auto& z) {
            using T = typename std::decay_t<decltype(g)>::value_type;
            return xt::where(xt::equal(z, T(0)), T(0), g * z * xt::pow(x, z - T(1)));
          });
    }
    if (c.needs_grad(1)) {
      c.grad_input(1) = dispatch(c.output().dtype(), [&](auto zero) -> Tensor {
        using T = decltype(zero);
        const Array<T>& g = c.grad_output().array<T>();
        const Array<T>& out = c.output().array<T>();
        const Array<T>& base = c.input(0).array<T>();
        const Array<T>& z = c.input(1).array<T>();
        return Tensor(Array<T>(g * xt::where(xt::equal(base, T(0)) && z >= T(0), T(0), out * xt::log(base))));
      });
    }
  });
}

// y = max(a, b); da = dy where a > b, dy / 2 where a == b; db likewise
Var maximum(const Var& a, const Var& b) {
  check_binary("maximum", a, b);
  // NaN on either side gives NaN, as torch.maximum (xt::maximum would drop it).
  Tensor y = kernel::binary(a.value(), b.value(),
                            [](const auto& x, const auto& z) { return xt::where(xt::isnan(x) || x > z, x, z); });
  return record("maximum", {a, b}, std::move(y), [](BackwardContext& c) {
    auto share = [](const auto& g, const auto& mine, const auto& other) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return g * xt::where(mine > other, T(1), xt::where(xt::equal(mine, other), T(0.5), T(0)));
    };
    if (c.needs_grad(0)) c.grad_input(0) = kernel::ternary(c.grad_output(), c.input(0), c.input(1), share);
    if (c.needs_grad(1)) c.grad_input(1) = kernel::ternary(c.grad_output(), c.input(1), c.input(0), share);
  });
}

// y = min(a, b); da = dy where a < b, dy / 2 where a == b; db likewise
Var minimum(const Var& a, const Var& b) {
  check_binary("minimum", a, b);
  Tensor y = kernel::binary(a.value(), b.value(),
                            [](const auto& x, const auto& z) { return xt::where(xt::isnan(x) || x < z, x, z); });
  return record("minimum", {a, b}, std::move(y), [](BackwardContext& c) {
    auto share = [](const auto& g, const auto& mine, const auto& other) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return g * xt::where(mine < other, T(1), xt::where(xt::equal(mine, other), T(0.5), T(0)));
    };
    if (c.needs_grad(0)) c.grad_input(0) = kernel::ternary(c.grad_output(), c.input(0), c.input(1), share);
    if (c.needs_grad(1)) c.grad_input(1) = kernel::ternary(c.grad_output(), c.input(1), c.input(0), share);
  });
}

Var scalar_like(const Var& x, double value) {
  kernel::check_defined("scalar_like", {{"x", x}});
  return Var(Tensor::scalar(value, x.dtype()));
}

// Scalar forms are composites: they carry no backward of their own.
Var add(const Var& a, double b) { return add(a, constant_like("add", "a", 0, a, b)); }
Var add(double a, const Var& b) { return add(constant_like("add", "b", 1, b, a), b); }
Var sub(const Var& a, double b) { return sub(a, constant_like("sub", "a", 0, a, b)); }
Var sub(double a, const Var& b) { return sub(constant_like("sub", "b", 1, b, a), b); }
Var mul(const Var& a, double b) { return mul(a, constant_like("mul", "a", 0, a, b)); }
Var mul(double a, const Var& b) { return mul(constant_like("mul", "b", 1, b, a), b); }
Var div(const Var& a, double b) { return div(a, constant_like("div", "a", 0, a, b)); }
Var div(double a, const Var& b) { return div(constant_like("div", "b", 1, b, a), b); }
Var pow(const Var& a, double exponent) { return pow(a, constant_like("pow", "a", 0, a, exponent)); }
Var maximum(const Var& a, double b) { return maximum(a, constant_like("maximum", "a", 0, a, b)); }
Var minimum(const Var& a, double b) { return minimum(a, constant_like("minimum", "a", 0, a, b)); }

// y = -x; dx = -dy
Var neg(const Var& x) {
  kernel::check_defined("neg", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return -v; });
  return record("neg", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::unary(c.grad_output(), [](const auto& g) { return -g; });
  });
}

// y = exp(x); dx = dy * y
Var exp(const Var& x) {
  kernel::check_defined("exp", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return xt::exp(v); });
  return record("exp", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) =
        kernel::binary(c.grad_output(), c.output(), [](const auto& g, const auto& out) { return g * out; });
  });
}

// y = log(x); dx = dy / x
Var log(const Var& x) {
  kernel::check_defined("log", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return xt::log(v); });
  return record("log", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.input(0), [](const auto& g, const auto& v) { return g / v; });
  });
}

// y = sqrt(x); dx = dy / (2 y)
Var sqrt(const Var& x) {
  kernel::check_defined("sqrt", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return xt::sqrt(v); });
  return record("sqrt", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.output(), [](const auto& g, const auto& out) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return g / (T(2) * out);
    });
  });
}

// y = x^2; dx = 2 x dy
Var square(const Var& x) {
  kernel::check_defined("square", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return v * v; });
  return record("square", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.input(0), [](const auto& g, const auto& v) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return T(2) * v * g;
    });
  });
}

// y = |x|; dx = sign(x) dy
Var abs(const Var& x) {
  kernel::check_defined("abs", {{"x", x}});
  Tensor y = kernel::unary(x.value(), [](const auto& v) { return xt::abs(v); });
  return record("abs", {x}, std::move(y), [](BackwardContext& c) {
    c.grad_input(0) =
        kernel::binary(c.grad_output(), c.input(0), [](const auto& g, const auto& v) { return g * xt::sign(v); });
  });
}

// y = min(max(x, low), high); dx = dy inside [low, high], 0 outside
Var clamp(const Var& x, double low, double high) {
  kernel::check_defined("clamp", {{"x", x}});
  if (low > high) {
    throw Error(fmt::format("{}: low {} is greater than high {}", op_context("clamp"), low, high));
  }
  Tensor y = kernel::unary(x.value(), [&](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    // Comparisons with NaN are false, so NaN passes through (xt::clip would not keep it).
    return xt::where(v < T(low), T(low), xt::where(v > T(high), T(high), v));
  });
  return record("clamp", {x}, std::move(y), [low, high](BackwardContext& c) {
    c.grad_input(0) = kernel::binary(c.grad_output(), c.input(0), [&](const auto& g, const auto& v) {
      using T = typename std::decay_t<decltype(g)>::value_type;
      return xt::where(v >= T(low) && v <= T(high), g, T(0));
    });
  });
}

}  // namespace tg
