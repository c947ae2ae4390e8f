#pragma once
/// Elementwise arithmetic with NumPy broadcasting, and elementwise math.
/// Binary ops take operands of one dtype; their gradients are summed back to
/// each operand's shape by the tape.

#include "tapegrad/autodiff/var.hpp"

namespace tg {

Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
/// a ** b elementwise. The gradient for b is NaN where a < 0 (log a). At the
/// edges the gradients are torch's: 0 for a where b == 0 (even at a = 0) and 0
/// for b where a == 0 and b >= 0.
Var pow(const Var& a, const Var& b);
/// Elementwise max; where a == b each side gets half the gradient (as PyTorch).
Var maximum(const Var& a, const Var& b);
Var minimum(const Var& a, const Var& b);

// Scalar forms: the scalar becomes a constant of the tensor's dtype.
Var add(const Var& a, double b);
Var add(double a, const Var& b);
Var sub(const Var& a, double b);
Var sub(double a, const Var& b);
Var mul(const Var& a, double b);
Var mul(double a, const Var& b);
Var div(const Var& a, double b);
Var div(double a, const Var& b);
Var pow(const Var& a, double exponent);
Var maximum(const Var& a, double b);
Var minimum(const Var& a, double b);

Var neg(const Var& x);
Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);
Var square(const Var& x);
/// |x|; the gradient at 0 is 0.
Var abs(const Var& x);
/// min(max(x, low), high); the gradient is 1 inside [low, high] and 0 outside.
Var clamp(const Var& x, double low, double high);

/// A constant (no grad) 0-d tensor of x's dtype: how scalar forms lift a double.
Var scalar_like(const Var& x, double value);

inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }
inline Var operator/(const Var& a, const Var& b) { return div(a, b); }
inline Var operator+(const Var& a, double b) { return add(a, b); }
inline Var operator-(const Var& a, double b) { return sub(a, b); }
inline Var operator*(const Var& a, double b) { return mul(a, b); }
inline Var operator/(const Var& a, double b) { return div(a, b); }
inline Var operator+(double a, const Var& b) { return add(a, b); }
inline Var operator-(double a, const Var& b) { return sub(a, b); }
inline Var operator*(double a, const Var& b) { return mul(a, b); }
inline Var operator/(double a, const Var& b) { return div(a, b); }
inline Var operator-(const Var& x) { return neg(x); }

}  // namespace tg
