import Adjoint

/// A named slot holding a tensor that modules own and optimizers update (Objax's
/// `BaseVar`). Variables are references: a module, its `GradValues` and its optimizer
/// all see the same variable.
open class BaseVar: @unchecked Sendable, CustomStringConvertible {
    /// The current value. Transforms such as `GradValues` temporarily put tracked
    /// tensors here; use `assign(_:)` to change a variable's value for good.
    public var value: Tensor

    /// A variable holding `value`.
    public init(_ value: Tensor) {
        self.value = value
    }

    /// Replaces the value; shape and dtype must stay the same.
    open func assign(_ newValue: Tensor, file: StaticString = #fileID, line: UInt = #line) {
        guard newValue.shape == value.shape, newValue.dtype == value.dtype else {
            fatalError("AdjointNN.assign: new value \(newValue.dtype) \(newValue.shape) does not match \(value.dtype) \(value.shape) (at \(file):\(line))")
        }
        value = newValue.detach()
    }

    public var description: String { "\(type(of: self))(\(value.dtype) \(value.shape))" }
}

/// A trainable variable. Its value is a leaf that requires grad, so both styles work:
/// Objax's `GradValues` and PyTorch's `loss.backward()` followed by `optimizer.step()`.
public final class TrainVar: BaseVar, @unchecked Sendable {
    /// A trainable variable holding `value`.
    override public init(_ value: Tensor) {
        super.init(value.requiringGrad())
    }

    /// The gradient accumulated by `backward()` (PyTorch style), nil after `zeroGrad()`.
    public var grad: Tensor? { value.grad }

    /// Clears the accumulated gradient.
    public func zeroGrad() {
        value.grad = nil
    }

    override public func assign(_ newValue: Tensor, file: StaticString = #fileID, line: UInt = #line) {
        super.assign(newValue, file: file, line: line)
        value = value.requiringGrad()
    }
}

/// A non-trainable variable: running statistics, optimizer slots, random state.
open class StateVar: BaseVar, @unchecked Sendable {}

/// A reference to a `TrainVar`, held by optimizers so their `vars()` name the slots they
/// own without listing the model's variables twice (Objax's `TrainRef`).
public final class TrainRef: @unchecked Sendable {
    /// The referenced variable.
    public let ref: TrainVar

    /// A reference to `variable`.
    public init(_ variable: TrainVar) {
        self.ref = variable
    }

    /// The referenced variable's value; setting it assigns.
    public var value: Tensor {
        get { ref.value }
        set { ref.assign(newValue) }
    }
}
