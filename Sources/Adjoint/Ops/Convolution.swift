/// 2-D convolution and pooling over NCHW tensors, through a strided *window view*
/// (im2col without a kernel of its own) followed by GEMM or a reduction. Batching rule
/// (vmap): the window view takes the batch as one more leading axis, so conv2d and the
/// pools batch by composition.
extension Tensor {
    /// The sliding windows of a `[..., H, W]` tensor (`[N, C, H, W]` in conv2d) as a view
    /// `[..., kh, kw, Ho, Wo]` (no copy). Its adjoint sums each window position's
    /// cotangent back into place. Batching rule: the batch is one more leading axis.
    func windows(kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)) -> Tensor {
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let outHeight = (h - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1
        let outWidth = (w - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1
        let s = layout.strides
        let (rowStride, columnStride) = (s[rank - 2], s[rank - 1])
        let view = Layout(
            shape: shape.dropLast(2) + [kernel.0, kernel.1, outHeight, outWidth],
            strides: s.dropLast(2) + [rowStride * dilation.0, columnStride * dilation.1, rowStride * stride.0, columnStride * stride.1],
            offset: layout.offset)
        let output = batch.map { Tensor.batched($0.physical.windows(kernel: kernel, stride: stride, dilation: dilation), level: $0.level) }
            ?? Tensor(storage: storage, layout: view)
        let inputShape = shape
        return Tensor.record("Windows", [self], output: output, file: #fileID, line: #line) { g, _, _ in
            [g.windowsAdjoint(inputShape: inputShape, kernel: kernel, stride: stride, dilation: dilation)]
        }
    }

    /// Sums a `[..., kh, kw, Ho, Wo]` cotangent back to `[..., H, W]`.
    func windowsAdjoint(inputShape: [Int], kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)) -> Tensor {
        var total: Tensor? = nil
        for row in 0..<kernel.0 {
            for column in 0..<kernel.1 {
                let piece = self[.ellipsis, row, column, .all, .all]
                let placed = piece.stridedEmbedded(into: inputShape, origin: (row * dilation.0, column * dilation.1), stride: stride)
                total = total.map { $0 + placed } ?? placed
            }
        }
        return total ?? Tensor.zeros(inputShape, dtype: dtype, on: device)
    }

    /// Zeros of `target` (`[..., H, W]`) with this `[..., Ho, Wo]` tensor written at rows
    /// `origin.0 + i·stride.0` and columns `origin.1 + j·stride.1`.
    func stridedEmbedded(into target: [Int], origin: (Int, Int), stride: (Int, Int)) -> Tensor {
        let dense = Layout(contiguous: target).strides
        let (rowStride, columnStride) = (dense[dense.count - 2], dense[dense.count - 1])
        let region = Layout(
            shape: shape,
            strides: dense.dropLast(2) + [rowStride * stride.0, columnStride * stride.1],
            offset: origin.0 * rowStride + origin.1 * columnStride)
        return embedded(into: target, region: region)
    }

    /// Zeros of `target` with this tensor written at `region` (a strided view of a
    /// contiguous `target`-shaped buffer). The adjoint of `viewed(region:)`.
    func embedded(into target: [Int], region: Layout) -> Tensor {
        let output: Tensor
        if let box = batch {
            output = Tensor.batched(box.physical.embedded(into: [box.size] + target, region: region.batched(box.size, every: target.reduce(1, *))), level: box.level)
        } else {
            let storage = Dispatch.allocate(count: target.reduce(1, *), dtype: dtype, device: device)
            Dispatch.run(.fill(0), [], into: storage, layout: Layout(contiguous: target))
            output = Tensor(storage: Dispatch.run(.copy, [value], into: storage, layout: region), layout: Layout(contiguous: target))
        }
        return Tensor.record("Embed", [self], output: output, file: #fileID, line: #line) { g, _, _ in
            [g.viewed(region: region)]
        }
    }

    /// The strided view `region` of this tensor's row-major elements. The adjoint of
    /// `embedded(into:region:)`.
    func viewed(region: Layout) -> Tensor {
        let dense = contiguous()
        let sourceShape = shape
        let output = dense.batch.map { Tensor.batched($0.physical.viewed(region: region.batched($0.size, every: sourceShape.reduce(1, *))), level: $0.level) }
            ?? Tensor(storage: dense.storage, layout: region)
        return Tensor.record("View", [dense], output: output, file: #fileID, line: #line) { g, _, _ in
            [g.embedded(into: sourceShape, region: region)]
        }
    }

    /// 2-D convolution (cross-correlation, as PyTorch): input `[N, C, H, W]`, weight
    /// `[O, C, kh, kw]`, optional bias `[O]`; output `[N, O, Ho, Wo]`.
    ///
    /// ```swift
    /// let y = x.conv2d(weight, bias: b, stride: 1, padding: 1)
    /// ```
    public func conv2d(_ weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0, dilation: Int = 1, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank == 4 && weight.rank == 4, "conv2d", "needs input [N, C, H, W] and weight [O, C, kh, kw], got \(shape) and \(weight.shape)", file: file, line: line)
        check(shape[1] == weight.shape[1], "conv2d", "input has \(shape[1]) channels but weight \(weight.shape) expects \(weight.shape[1])", file: file, line: line)
        check(stride > 0 && dilation > 0 && padding >= 0, "conv2d", "stride and dilation must be positive and padding non-negative", file: file, line: line)
        let (outChannels, channels, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
        let padded = padding > 0 ? self.padded([(0, 0), (0, 0), (padding, padding), (padding, padding)]) : self
        check(padded.shape[2] >= dilation * (kh - 1) + 1 && padded.shape[3] >= dilation * (kw - 1) + 1, "conv2d", "kernel \(weight.shape) larger than the padded input \(padded.shape)", file: file, line: line)
        let patches = padded.windows(kernel: (kh, kw), stride: (stride, stride), dilation: (dilation, dilation))
        let (n, outHeight, outWidth) = (shape[0], patches.shape[4], patches.shape[5])
        let columns = patches.permuted([0, 4, 5, 1, 2, 3]).reshaped([n * outHeight * outWidth, channels * kh * kw])
        var output = columns.matmul(weight.reshaped([outChannels, channels * kh * kw]).transposed())
        if let bias { output = output + bias }
        return output.reshaped([n, outHeight, outWidth, outChannels]).permuted([0, 3, 1, 2])
    }

    /// Max pooling over `kernel × kernel` windows of a `[N, C, H, W]` tensor.
    public func maxPool2d(kernel: Int, stride: Int? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank == 4, "maxPool2d", "needs [N, C, H, W], got \(shape)", file: file, line: line)
        let step = stride ?? kernel
        return windows(kernel: (kernel, kernel), stride: (step, step), dilation: (1, 1)).max(axes: [2, 3])
    }

    /// Average pooling over `kernel × kernel` windows of a `[N, C, H, W]` tensor.
    public func avgPool2d(kernel: Int, stride: Int? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank == 4, "avgPool2d", "needs [N, C, H, W], got \(shape)", file: file, line: line)
        let step = stride ?? kernel
        return windows(kernel: (kernel, kernel), stride: (step, step), dilation: (1, 1)).mean(axes: [2, 3])
    }
}

extension Layout {
    /// This region of a row-major buffer, repeated `count` times `every` elements apart
    /// (a leading batch axis).
    func batched(_ count: Int, every step: Int) -> Layout {
        Layout(shape: [count] + shape, strides: [step] + strides, offset: offset)
    }
}

extension OpRegistry {
    /// Convolution and pooling.
    public static let convolution: [OpInfo] = [
        OpInfo("conv2d", shapes: [[[2, 2, 5, 4], [3, 2, 3, 2]]]) { $0[0].conv2d($0[1], stride: 1, padding: 1) },
        OpInfo("conv2d.strided.dilated", shapes: [[[1, 1, 7, 7], [2, 1, 2, 2]]]) { $0[0].conv2d($0[1], stride: 2, dilation: 2) },
        OpInfo("maxPool2d", shapes: [[[1, 2, 4, 4]]], smooth: false) { $0[0].maxPool2d(kernel: 2) },
        OpInfo("avgPool2d", shapes: [[[1, 2, 5, 5]]]) { $0[0].avgPool2d(kernel: 2, stride: 1) },
    ]
}
