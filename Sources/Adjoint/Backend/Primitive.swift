/// Elementwise functions of one argument.
public enum UnaryOp: String, Sendable, Hashable, CaseIterable {
    /// `-x` (float, int32).
    case neg
    /// `e^x`.
    case exp
    /// Natural logarithm.
    case log
    /// Sine.
    case sin
    /// Cosine.
    case cos
    /// Hyperbolic tangent.
    case tanh
    /// Square root.
    case sqrt
    /// `|x|` (float, int32).
    case abs
    /// -1 or 1, and x itself for ±0 and NaN (float, as JAX and the OpenCL functor); -1, 0
    /// or 1 (int32).
    case sign
    /// Largest integer not above x.
    case floor
    /// Nearest integer, halves away from zero (C `round`).
    case round
    /// `1 / (1 + e^-x)`, computed without overflow for large |x|.
    case sigmoid
    /// Logical not (bool only).
    case logicalNot
}

/// Elementwise functions of two arguments (inputs broadcast by stride 0).
public enum BinaryOp: String, Sendable, Hashable, CaseIterable {
    case add, sub, mul, div
    /// `a^b` (C `pow`; float only).
    case pow
    case maximum, minimum
    /// Comparisons: inputs of any equal dtype, output bool.
    case lt, le, gt, ge, eq, ne
    /// Logical and/or of bools.
    case logicalAnd, logicalOr

    /// Whether the result is a bool mask.
    public var isComparison: Bool {
        switch self {
        case .lt, .le, .gt, .ge, .eq, .ne: return true
        default: return false
        }
    }
}

/// Reductions over one (merged) axis.
public enum ReduceOp: String, Sendable, Hashable, CaseIterable {
    case sum, max, min
    /// Index (int32) of the first maximum.
    case argmax
    /// Index (int32) of the first minimum.
    case argmin
}

/// Distributions drawn by `Primitive.random`.
public enum RandomDistribution: String, Sendable, Hashable {
    /// Uniform on [0, 1) (float output).
    case uniform
    /// Standard normal (float output), Box-Muller.
    case normal
    /// Raw 32-bit words reinterpreted as int32 (int32 output).
    case bits
}

/// One call of the backend contract. Every tensor op in Adjoint is composed from these.
///
/// The exact semantics below are the contract both backends implement and the
/// CPU-vs-OpenCL agreement tests check. "view" means any `Layout` (strides may be 0 or
/// arbitrary, offset any); "contiguous" means `Layout.isContiguous` with offset allowed.
/// Unless stated otherwise the output is a contiguous view of the output's shape.
/// Elementwise primitives (unary, binary, select, cast, copy, fill) write through any
/// output view, and their output may be the very view of an input (in-place
/// accumulation into storage an op has just made, as conv2d's window adjoint does):
/// each element is read before it is written, by the same work item.
public enum Primitive: Sendable, Hashable, CustomStringConvertible {
    /// `out[i] = op(x[i])`. Inputs: `[x]` (view, same shape as out). Output dtype = input
    /// dtype (bool for `logicalNot`).
    case unary(UnaryOp)
    /// `out[i] = op(a[i], b[i])`. Inputs: `[a, b]`, views already broadcast to the output
    /// shape (stride 0 on broadcast axes), same dtype. Output: that dtype, or bool for
    /// comparisons. Integer `div` truncates toward zero.
    case binary(BinaryOp)
    /// `out[i] = cond[i] ? a[i] : b[i]`. Inputs `[cond (bool), a, b]`, broadcast views.
    case select
    /// `out[i] = convert(x[i])` to the output buffer's dtype: float->int truncates toward
    /// zero, anything->bool is `x != 0`, bool->number is 0 or 1.
    case cast
    /// `out[j] = x[j]` where the OUTPUT view may be strided (this writes into part of a
    /// buffer: pad, concat, slice assignment) and x is any view of the same shape/dtype.
    case copy
    /// Writes `value` (converted to the output dtype) to every element of the output view
    /// (which may be strided). Inputs: none.
    case fill(Double)
    /// Input `[x]` contiguous, read as `[outer, length, inner]`; output contiguous
    /// `[outer, inner]`. `sum` of an empty axis is 0; `max`/`min` of an empty axis are
    /// -inf/+inf (floats); `argmax`/`argmin` output int32, first index on ties, 0 when empty.
    /// NaN propagates through max/min.
    case reduce(ReduceOp, outer: Int, length: Int, inner: Int)
    /// Batched GEMM `out[b] = A[b] · B[b]`. Inputs `[A, B]` are rank-3 views
    /// `[batch, m, k]` and `[batch, k, n]` whose batch stride may be anything (0 broadcasts)
    /// and whose last two axes are dense either row-major (`strides[2] == 1`) or
    /// column-major (`strides[1] == 1`, a transposed matrix). Output contiguous
    /// `[batch, m, n]`. float32 and float64.
    case matmul
    /// Input `[x, indices]`: x contiguous `[outer, length, inner]`, indices contiguous int32
    /// `[outer, count, inner]`; `out[o, j, i] = x[o, indices[o, j, i], i]`, output contiguous
    /// `[outer, count, inner]`. Indices must lie in `0..<length` (checked by the op layer).
    case gather(outer: Int, length: Int, count: Int, inner: Int)
    /// Inputs `[updates, indices]`, both contiguous `[outer, count, inner]`; output
    /// contiguous `[outer, length, inner]`, zero-filled by the primitive, then
    /// `out[o, indices[o, j, i], i] += updates[o, j, i]` (j ascending, so results are
    /// deterministic).
    case scatterAdd(outer: Int, length: Int, count: Int, inner: Int)
    /// Counter-based random numbers (Philox-4x32-10), identical on every backend.
    ///
    /// Element `e` (row-major in the contiguous output) of a draw with `seed` and
    /// `offset` reads 32-bit word `w(n) = philox(counter: (n/4 lo, n/4 hi, offset lo,
    /// offset hi), key: (seed lo, seed hi))[n % 4]`.
    /// - `bits`: `Int32(bitPattern: w(e))`.
    /// - `uniform`: `(w(e) >> 8) * 2^-24`, in float32 or float64 (both draw equal values).
    /// - `normal`: pair `p = e / 2`: `u1 = (Double(w(2p) >> 8) + 1) * 2^-24` (in (0, 1]),
    ///   `u2 = Double(w(2p + 1) >> 8) * 2^-24`, `r = sqrt(-2 log u1)`; even `e` gives
    ///   `r cos(2π u2)`, odd `e` gives `r sin(2π u2)`. float32 computes in float32.
    case random(RandomDistribution, seed: UInt64, offset: UInt64)

    /// A short name for ledgers and messages, e.g. `binary.add`.
    public var description: String {
        switch self {
        case .unary(let op): return "unary.\(op.rawValue)"
        case .binary(let op): return "binary.\(op.rawValue)"
        case .select: return "select"
        case .cast: return "cast"
        case .copy: return "copy"
        case .fill: return "fill"
        case .reduce(let op, _, _, _): return "reduce.\(op.rawValue)"
        case .matmul: return "matmul"
        case .gather: return "gather"
        case .scatterAdd: return "scatterAdd"
        case .random(let distribution, _, _): return "random.\(distribution.rawValue)"
        }
    }
}
