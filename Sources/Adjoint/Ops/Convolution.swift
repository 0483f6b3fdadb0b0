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

    /// Sums a `[..., kh, kw, Ho, Wo]` cotangent back to `[..., H, W]`: one zero fill, then
    /// each kernel offset's `[..., Ho, Wo]` slice added in place into its strided region
    /// (elementwise primitives may write a view of storage the op itself just made).
    /// Linear, and the transpose of `windows`, which is therefore its VJP.
    func windowsAdjoint(inputShape: [Int], kernel: (Int, Int), stride: (Int, Int), dilation: (Int, Int)) -> Tensor {
        let output: Tensor
        if let box = batch {
            output = Tensor.batched(box.physical.windowsAdjoint(inputShape: [box.size] + inputShape, kernel: kernel, stride: stride, dilation: dilation), level: box.level)
        } else {
            let target = Layout(contiguous: inputShape)
            let storage = Dispatch.allocate(count: target.count, dtype: dtype, device: device)
            Dispatch.run(.fill(0), [], into: storage, layout: target)
            let (rowStride, columnStride) = (target.strides[inputShape.count - 2], target.strides[inputShape.count - 1])
            let cotangent = value
            for row in 0..<kernel.0 {
                for column in 0..<kernel.1 {
                    let piece = cotangent[.ellipsis, row, column, .all, .all]
                    let region = Layout(
                        shape: piece.shape,
                        strides: target.strides.dropLast(2) + [rowStride * stride.0, columnStride * stride.1],
                        offset: row * dilation.0 * rowStride + column * dilation.1 * columnStride)
                    Dispatch.run(.binary(.add), [Tensor(storage: storage, layout: region), piece], into: storage, layout: region)
                }
            }
            output = Tensor(storage: storage, layout: target)
        }
        return Tensor.record("WindowsAdjoint", [self], output: output, file: #fileID, line: #line) { g, _, _ in
            [g.windows(kernel: kernel, stride: stride, dilation: dilation)]
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
        // Columns as [C·kh·kw, N·OH·OW]: the im2col copy then moves runs of a whole output
        // row (OW elements) instead of runs of kw.
        let columns = patches.permuted([1, 2, 3, 0, 4, 5]).reshaped([channels * kh * kw, n * outHeight * outWidth])
        var output = weight.reshaped([outChannels, channels * kh * kw]).matmul(columns)
        if let bias { output = output + bias.reshaped([outChannels, 1]) }
        return output.reshaped([outChannels, n, outHeight, outWidth]).permuted([1, 0, 2, 3])
    }

    /// Max pooling over `kernel × kernel` windows of a `[N, C, H, W]` tensor.
    public func maxPool2d(kernel: Int, stride: Int? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank == 4, "maxPool2d", "needs [N, C, H, W], got \(shape)", file: file, line: line)
        let step = stride ?? kernel
        if let tiles = tiled(kernel: kernel, stride: step) {
            return tiles.max(axes: [3]).max(axes: [4])
        }
        return windows(kernel: (kernel, kernel), stride: (step, step), dilation: (1, 1)).max(axes: [2, 3])
    }

    /// For pooling whose windows tile the input (stride = kernel): the input, cropped to
    /// whole windows, as `[N, C, Ho, k, Wo, k]`. Reducing axis 3, then the last axis, reads
    /// it as `[outer, length, inner]` blocks in place, where the window view needs a
    /// permuted copy first. Nil when the windows overlap, skip, or do not fit.
    private func tiled(kernel: Int, stride: Int) -> Tensor? {
        guard stride == kernel, kernel > 0, shape[2] >= kernel, shape[3] >= kernel else { return nil }
        let (outHeight, outWidth) = (shape[2] / kernel, shape[3] / kernel)
        let whole = shape[2] == outHeight * kernel && shape[3] == outWidth * kernel ? self : self[.all, .all, 0..<(outHeight * kernel), 0..<(outWidth * kernel)]
        return whole.reshaped([shape[0], shape[1], outHeight, kernel, outWidth, kernel])
    }

    /// Average pooling over `kernel × kernel` windows of a `[N, C, H, W]` tensor.
    public func avgPool2d(kernel: Int, stride: Int? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(rank == 4, "avgPool2d", "needs [N, C, H, W], got \(shape)", file: file, line: line)
        let step = stride ?? kernel
        if let tiles = tiled(kernel: kernel, stride: step) {
            return tiles.mean(axes: [3]).mean(axes: [4])
        }
        return windows(kernel: (kernel, kernel), stride: (step, step), dilation: (1, 1)).mean(axes: [2, 3])
    }
}

extension OpRegistry {
    /// Convolution and pooling.
    public static let convolution: [OpInfo] = [
        OpInfo("conv2d", shapes: [[[2, 2, 5, 4], [3, 2, 3, 2]]]) { $0[0].conv2d($0[1], stride: 1, padding: 1) },
        OpInfo("conv2d.strided.dilated", shapes: [[[1, 1, 7, 7], [2, 1, 2, 2]]]) { $0[0].conv2d($0[1], stride: 2, dilation: 2) },
        OpInfo("maxPool2d", shapes: [[[1, 2, 4, 4]]], smooth: false) { $0[0].maxPool2d(kernel: 2) },
        OpInfo("avgPool2d", shapes: [[[1, 2, 5, 5]]]) { $0[0].avgPool2d(kernel: 2, stride: 1) },
        OpInfo("avgPool2d.tiled", shapes: [[[2, 3, 4, 6]], [[1, 2, 5, 7]]]) { $0[0].avgPool2d(kernel: 2) },
        OpInfo("maxPool2d.cropped", shapes: [[[2, 2, 5, 7]]], smooth: false) { $0[0].maxPool2d(kernel: 2) },
        OpInfo("maxPool2d.overlapping", shapes: [[[1, 2, 5, 5]]], smooth: false) { $0[0].maxPool2d(kernel: 3, stride: 2) },
    ]
}
