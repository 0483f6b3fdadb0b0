import Adjoint

/// A fully connected layer `y = x·w + b` (w has shape `[inputs, outputs]`, Objax layout).
public final class Linear: Module, Layer, @unchecked Sendable {
    /// The bias, shape `[outputs]` (nil without bias).
    public let b: TrainVar?
    /// The weights, shape `[inputs, outputs]`, Glorot-normal initialized.
    public let w: TrainVar

    /// A layer from `inputs` to `outputs` features.
    public init(_ inputs: Int, _ outputs: Int, bias: Bool = true, seed: UInt64? = nil, on device: Device? = nil) {
        b = bias ? TrainVar(Tensor.zeros([outputs], on: device)) : nil
        w = TrainVar(Initializer.glorotNormal([inputs, outputs], fanIn: inputs, fanOut: outputs, seed: seed, on: device))
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { x in
            let product = x.matmul(w.value)
            return b.map { product + $0.value } ?? product
        }
    }
}

/// Randomly zeroes inputs with probability `rate` while training, scaling the rest by
/// `1 / (1 - rate)`; the identity in evaluation. Owns its `RandomState`.
public final class Dropout: Module, Layer, @unchecked Sendable {
    /// Probability of dropping an element.
    public let rate: Double
    /// Whether the layer drops (set by `train()`/`eval()` on any ancestor).
    public var isTraining = true
    /// The layer's random stream (a variable, so checkpoints and jit carry it).
    public let random: RandomState

    /// Dropout with drop probability `rate`.
    public init(rate: Double, seed: UInt64 = 0) {
        precondition(rate >= 0 && rate < 1, "AdjointNN.Dropout: rate must be in [0, 1), got \(rate)")
        self.rate = rate
        self.random = RandomState(seed: seed)
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { x in
            guard isTraining, rate > 0 else { return x }
            let keep = Tensor.randomBernoulli(x.shape, probability: 1 - rate, seed: random.nextSeed(), on: x.device)
            return Tensor.where(keep, x / (1 - rate), Tensor.constant(0, dtype: x.dtype, on: x.device))
        }
    }
}

/// Batch normalization over all axes but `axis` (features), with running statistics
/// kept in `StateVar`s and used in evaluation.
public final class BatchNorm: Module, Layer, @unchecked Sendable {
    /// Learned scale, shape `[features]`.
    public let gamma: TrainVar
    /// Learned shift, shape `[features]`.
    public let beta: TrainVar
    /// Running mean.
    public let runningMean: StateVar
    /// Running variance.
    public let runningVariance: StateVar
    /// Weight of the new batch in the running averages.
    public let momentum: Double
    /// Added to the variance.
    public let epsilon: Double
    /// The feature axis (1 for `[N, C, ...]`, 1 for `[N, C]`).
    public let axis: Int
    /// Whether batch statistics are used (and the running ones updated).
    public var isTraining = true

    /// Batch normalization of `features` channels on `axis`.
    public init(_ features: Int, axis: Int = 1, momentum: Double = 0.1, epsilon: Double = 1e-5, on device: Device? = nil) {
        gamma = TrainVar(Tensor.ones([features], on: device))
        beta = TrainVar(Tensor.zeros([features], on: device))
        runningMean = StateVar(Tensor.zeros([features], on: device))
        runningVariance = StateVar(Tensor.ones([features], on: device))
        self.momentum = momentum
        self.epsilon = epsilon
        self.axis = axis
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { normalize($0) }
    }

    private func normalize(_ input: Tensor) -> Tensor {
        let axis = self.axis < 0 ? self.axis + input.rank : self.axis
        let reduced = (0..<input.rank).filter { $0 != axis }
        var shape = [Int](repeating: 1, count: input.rank)
        shape[axis] = input.shape[axis]
        let mean: Tensor, variance: Tensor
        if isTraining {
            mean = input.mean(axes: reduced, keepDims: true)
            variance = (input - mean).squared().mean(axes: reduced, keepDims: true)
            let count = Double(reduced.map { input.shape[$0] }.reduce(1, *))
            let unbiased = variance.detach() * (count / Swift.max(count - 1, 1))
            runningMean.assign(runningMean.value * (1 - momentum) + mean.detach().reshaped([input.shape[axis]]) * momentum)
            runningVariance.assign(runningVariance.value * (1 - momentum) + unbiased.reshaped([input.shape[axis]]) * momentum)
        } else {
            mean = runningMean.value.reshaped(shape)
            variance = runningVariance.value.reshaped(shape)
        }
        let normalized = (input - mean) / (variance + epsilon).sqrt()
        return normalized * gamma.value.reshaped(shape) + beta.value.reshaped(shape)
    }
}

/// A lookup table: int32 indices of any shape to vectors of `dimension`.
public final class Embedding: Module, Layer, @unchecked Sendable {
    /// The table, shape `[count, dimension]`.
    public let w: TrainVar

    /// A table of `count` vectors of `dimension`, normal initialized.
    public init(_ count: Int, _ dimension: Int, seed: UInt64? = nil, on device: Device? = nil) {
        w = TrainVar(Tensor.randomNormal([count, dimension], seed: seed, on: device))
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { w.value.take($0, axis: 0) }
    }
}

extension Module {
    /// Puts this module and every submodule in training mode (Dropout drops, BatchNorm
    /// uses batch statistics).
    public func train() { setTraining(true) }

    /// Puts this module and every submodule in evaluation mode.
    public func eval() { setTraining(false) }

    private func setTraining(_ training: Bool) {
        if let dropout = self as? Dropout { dropout.isTraining = training }
        if let norm = self as? BatchNorm { norm.isTraining = training }
        for module in submodules() { module.setTraining(training) }
    }

    /// The direct submodules (properties and list elements).
    func submodules() -> [Module] {
        var found: [Module] = []
        func visit(_ value: Any) {
            switch value {
            case let module as Module: found.append(module)
            case let array as [Any]: array.forEach(visit)
            default: if let wrapped = Module.unwrapOptional(value) { visit(wrapped) }
            }
        }
        Module.storedProperties(of: self).forEach { visit($0.1) }
        return found
    }
}

/// A 2-D convolution over `[N, C, H, W]` inputs with weight `[O, C, k, k]` (PyTorch's
/// layout), Kaiming-normal initialized.
public final class Conv2d: Module, Layer, @unchecked Sendable {
    /// The bias, shape `[O]` (nil without bias).
    public let b: TrainVar?
    /// The filters, shape `[O, C, k, k]`.
    public let w: TrainVar
    /// Step between windows.
    public let stride: Int
    /// Zeros added on each side.
    public let padding: Int
    /// Spacing of the kernel taps.
    public let dilation: Int

    /// A convolution from `inputs` to `outputs` channels with a `kernel × kernel` window.
    public init(_ inputs: Int, _ outputs: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1, bias: Bool = true, seed: UInt64? = nil, on device: Device? = nil) {
        b = bias ? TrainVar(Tensor.zeros([outputs], on: device)) : nil
        w = TrainVar(Initializer.kaimingNormal([outputs, inputs, kernel, kernel], fanIn: inputs * kernel * kernel, seed: seed, on: device))
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { $0.conv2d(w.value, bias: b?.value, stride: stride, padding: padding, dilation: dilation) }
    }
}

/// Max pooling as a layer.
public final class MaxPool2d: Module, Layer, @unchecked Sendable {
    /// Window size (and default stride).
    public let kernel: Int
    /// Step between windows.
    public let stride: Int

    /// Pooling over `kernel × kernel` windows.
    public init(kernel: Int, stride: Int? = nil) {
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor { hooked(input) { $0.maxPool2d(kernel: kernel, stride: stride) } }
}

/// Flattens all but the first axis.
public final class Flatten: Module, Layer, @unchecked Sendable {
    override public init() {}
    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor { hooked(input) { $0.reshaped([$0.shape[0], -1]) } }
}
