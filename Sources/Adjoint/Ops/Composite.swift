/// Ops composed from others; their derivatives follow from the composition.
extension Tensor {
    /// `log(sum(exp(x)))` over `axes`, computed stably by subtracting the maximum.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axes = axes.map { normalizedAxes($0, op: "logSumExp", file: file, line: line) } ?? Array(0..<rank)
        let peak = max(axes: axes, keepDims: true, file: file, line: line).detach()
        let total = (self - peak).exp().sum(axes: axes, keepDims: true).log() + peak
        return keepDims ? total : total.reshaped(reducedShape(axes, keepDims: false))
    }

    /// Softmax along `axis`: `exp(x) / sum(exp(x))`, stable.
    public func softmax(axis: Int = -1, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let shifted = (self - max(axes: [axis], keepDims: true, file: file, line: line).detach()).exp()
        return shifted / shifted.sum(axes: [axis], keepDims: true)
    }

    /// Log of the softmax along `axis`, stable.
    public func logSoftmax(axis: Int = -1, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        self - logSumExp(axes: [axis], keepDims: true, file: file, line: line)
    }

    /// `self * self`.
    public func squared() -> Tensor { self * self }
}

extension OpRegistry {
    /// The composite ops, and `where`, `relu` and `clamp`.
    public static let composite: [OpInfo] = selectOps + [
        OpInfo("logSumExp", shapes: [[[5]], [[3, 4]]]) { $0[0].logSumExp(axes: [-1]) },
        OpInfo("softmax", shapes: [[[5]], [[3, 4]]]) { $0[0].softmax(axis: -1) },
        OpInfo("logSoftmax", shapes: [[[3, 4]]]) { $0[0].logSoftmax(axis: 0) },
    ]
}
