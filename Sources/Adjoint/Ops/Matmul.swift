/// Matrix products, followed by their derivatives and batching rule.
extension Tensor {
    /// Whether the last two axes are dense row-major or column-major (GEMM-ready).
    var hasGEMMLayout: Bool {
        let rows = layout.strides[rank - 2], columns = layout.strides[rank - 1]
        let m = shape[rank - 2], n = shape[rank - 1]
        return (columns == 1 && (rows == n || m == 1) && n > 0) || (rows == 1 && (columns == m || n == 1) && m > 0)
    }

    /// A rank-3 `[batch, rows, columns]` view for the matmul primitive.
    func batchedView(batchShape: [Int]) -> Tensor {
        var source = value
        if !source.hasGEMMLayout { source = source.contiguous() }
        let batch = batchShape.reduce(1, *)
        let matrix = Array(source.shape.suffix(2))
        let ownBatch = Array(source.shape.dropLast(2))
        let innerStrides = Array(source.layout.strides.suffix(2))
        if ownBatch.reduce(1, *) == 1 {
            return Tensor(storage: source.storage, layout: Layout(shape: [batch] + matrix, strides: [0] + innerStrides, offset: source.layout.offset))
        }
        if ownBatch == batchShape {
            let batchStrides = Array(source.layout.strides.dropLast(2))
            var mergeable = true
            for axis in 0..<(batchStrides.count - 1) where batchStrides[axis] != batchStrides[axis + 1] * batchShape[axis + 1] {
                mergeable = false
            }
            if mergeable {
                return Tensor(storage: source.storage, layout: Layout(shape: [batch] + matrix, strides: [batchStrides.last!] + innerStrides, offset: source.layout.offset))
            }
        }
        return source.expanded(to: batchShape + matrix).contiguous().value.reshaped([batch] + matrix)
    }

    /// Matrix product with numpy semantics: 1-D operands are promoted (and the added axis
    /// removed), leading batch axes broadcast.
    ///
    /// ```swift
    /// let c = a.matmul(b)   // [2, 3] x [3, 4] -> [2, 4]
    /// ```
    public func matmul(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(device == other.device, "matmul", "operands on different devices: \(device) and \(other.device) (shapes \(shape) and \(other.shape))", file: file, line: line)
        check(dtype == other.dtype && dtype.isFloatingPoint, "matmul", "needs two float tensors of one dtype, got \(dtype) and \(other.dtype)", file: file, line: line)
        check(rank >= 1 && other.rank >= 1, "matmul", "operands must have rank >= 1, got shapes \(shape) and \(other.shape)", file: file, line: line)
        if rank == 1 && other.rank == 1 {
            return unsqueezed(axis: 0).matmul(other.unsqueezed(axis: -1), file: file, line: line).reshaped([])
        }
        if rank == 1 { return unsqueezed(axis: 0).matmul(other, file: file, line: line).squeezed(axis: -2) }
        if other.rank == 1 { return matmul(other.unsqueezed(axis: -1), file: file, line: line).squeezed(axis: -1) }
        let m = shape[rank - 2], k = shape[rank - 1], n = other.shape[other.rank - 1]
        check(other.shape[other.rank - 2] == k, "matmul", "inner dimensions differ: \(shape) x \(other.shape)", file: file, line: line)
        guard let batchShape = Tensor.broadcastShape(Array(shape.dropLast(2)), Array(other.shape.dropLast(2))) else {
            fatalError("Adjoint.matmul: batch dimensions of \(shape) and \(other.shape) cannot be broadcast (at \(file):\(line))")
        }
        let outputShape = batchShape + [m, n]
        if batch != nil || other.batch != nil, let (level, _) = Tensor.batchLevel([self, other]) {
            let output = Tensor.batched(Tensor.physicalMatmul(self, other, level: level, file: file, line: line), level: level)
            return Tensor.record("Matmul", [self, other], output: output, file: file, line: line, pullback: Tensor.matmulPullback)
        }
        let left = batchedView(batchShape: batchShape)
        let right = other.batchedView(batchShape: batchShape)
        let storage = Dispatch.run(.matmul, [left, right], shape: [batchShape.reduce(1, *), m, n], dtype: dtype, device: device)
        let output = Tensor(storage: storage, layout: Layout(contiguous: outputShape))
        return Tensor.record("Matmul", [self, other], output: output, file: file, line: line, pullback: Tensor.matmulPullback)
    }

    private static let matmulPullback: Pullback = { g, x, _ in
        [x[0].requiresGrad ? g.matmul(x[1].transposed(-1, -2)) : nil,
         x[1].requiresGrad ? x[0].transposed(-1, -2).matmul(g) : nil]
    }

    /// Matmul's batching rule on operands of rank >= 2, one of them batched at `level`: a
    /// batched operand times an unbatched matrix folds the batch into the rows of one GEMM
    /// (`A·X` as `(Xᵀ·Aᵀ)ᵀ` when the batched operand is on the right); otherwise the batch
    /// becomes a leading batch axis of the product (per-example dot and outer products are
    /// GEMMs with a side of 1; the backends pick a kernel for such shapes).
    static func physicalMatmul(_ a: Tensor, _ b: Tensor, level: Int, file: StaticString, line: UInt) -> Tensor {
        let left = a.physical(at: level), right = b.physical(at: level)
        if let left, right == nil, b.rank == 2 {
            let (m, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
            // Rows counted, not inferred: -1 is ambiguous when k is 0.
            return left.reshaped([left.shape.dropLast().reduce(1, *), k], file: file, line: line).matmul(b, file: file, line: line)
                .reshaped([left.shape[0]] + a.shape.dropLast(2) + [m, b.shape[1]], file: file, line: line)
        }
        if let right, left == nil, a.rank == 2 {
            let (k, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
            let rows = right.transposed(-1, -2).reshaped([right.shape.dropLast(2).reduce(1, *) * n, k], file: file, line: line)
            return rows.matmul(a.transposed(), file: file, line: line)
                .reshaped([right.shape[0]] + b.shape.dropLast(2) + [n, a.shape[0]], file: file, line: line)
                .transposed(-1, -2)
        }
        let rank = Swift.max(a.rank, b.rank)
        let (left2, right2) = (a.aligned(at: level, rank: rank), b.aligned(at: level, rank: rank))
        return left2.matmul(right2, file: file, line: line)
    }
}

/// Matrix product (see `Tensor.matmul`).
public func matmul(_ a: Tensor, _ b: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
    a.matmul(b, file: file, line: line)
}

extension OpRegistry {
    /// The linear-algebra ops.
    public static let linearAlgebra: [OpInfo] = [
        OpInfo("matmul", shapes: [[[3, 4], [4, 2]], [[2, 3, 4], [4, 5]], [[2, 1, 3, 2], [3, 2, 4]], [[4], [4, 3]], [[3, 4], [4]], [[1, 3], [3, 1]]]) { $0[0].matmul($0[1]) },
        OpInfo("matmul.transposed", shapes: [[[4, 3], [2, 4]]]) { $0[0].transposed().matmul($0[1].transposed()) },
    ]
}
