import Adjoint

/// The base of every layer and model: a class whose variables (`TrainVar`, `StateVar`)
/// and submodules are found by reflection, Objax style.
///
/// ```swift
/// final class Model: Module {
///     let encoder = Linear(4, 8)
///     let head = Linear(8, 2)
///     func callAsFunction(_ x: Tensor) -> Tensor { head(relu(encoder(x))) }
/// }
/// Model().vars().names   // ["(Model).encoder(Linear).b", "(Model).encoder(Linear).w", ...]
/// ```
open class Module: @unchecked Sendable {
    var forwardHooks: [(Module, Tensor, Tensor) -> Tensor?] = []
    var backwardHooks: [(Module, Tensor?, Tensor) -> Void] = []

    /// A module with no variables of its own (subclasses add them as stored properties).
    public init() {}

    /// The module's name in variable paths: its class name.
    open var typeName: String { String(describing: type(of: self)) }

    /// Every variable of this module and its submodules, named by path.
    open func vars(scope: String = "") -> VarCollection {
        var collection = VarCollection()
        let prefix = scope + "(\(typeName))."
        for (label, value) in Module.storedProperties(of: self) {
            Module.collect(value, name: prefix + label, into: &collection)
        }
        return collection
    }

    /// Adds the variables held by `value` (a variable, a module, or an array of them).
    static func collect(_ value: Any, name: String, into collection: inout VarCollection) {
        switch value {
        case let variable as BaseVar:
            collection[name] = variable
        case let module as Module:
            collection = collection + module.vars(scope: name)
        case let array as [Any]:
            for (index, element) in array.enumerated() { collect(element, name: "\(name)[\(index)]", into: &collection) }
        default:
            if let wrapped = unwrapOptional(value) { collect(wrapped, name: name, into: &collection) }
        }
    }

    /// The value inside a non-nil optional (nil for nil and for non-optionals).
    static func unwrapOptional(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return nil }
        return mirror.children.first?.value
    }

    /// The stored properties of `object`, superclass ones first.
    static func storedProperties(of object: AnyObject) -> [(String, Any)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: object)
        while let current = mirror {
            mirrors.insert(current, at: 0)
            mirror = current.superclassMirror
        }
        return mirrors.flatMap { $0.children.compactMap { child in child.label.map { ($0, child.value) } } }
            .filter { !$0.0.hasPrefix("_") && $0.0 != "forwardHooks" && $0.0 != "backwardHooks" }
    }

    /// Runs `hook(module, input, output)` after every forward call; a non-nil result
    /// replaces the output (PyTorch's `register_forward_hook`).
    public func registerForwardHook(_ hook: @escaping (Module, Tensor, Tensor) -> Tensor?) {
        forwardHooks.append(hook)
    }

    /// Runs `hook(module, gradInput, gradOutput)` during backward, once the gradient with
    /// respect to the module's input is known (PyTorch's `register_full_backward_hook`);
    /// `gradInput` is nil when the input does not require grad.
    public func registerFullBackwardHook(_ hook: @escaping (Module, Tensor?, Tensor) -> Void) {
        backwardHooks.append(hook)
    }

    /// Runs a layer's computation with its hooks: every layer's `callAsFunction` goes
    /// through here.
    public func hooked(_ input: Tensor, _ body: (Tensor) -> Tensor) -> Tensor {
        if forwardHooks.isEmpty && backwardHooks.isEmpty { return body(input) }
        var source = input
        let gradOutput = GradientSlot()
        if !backwardHooks.isEmpty && input.requiresGrad {
            source = customVJP({ $0 }, vjp: { [unowned self] _, _, gradInput in
                for hook in self.backwardHooks { hook(self, gradInput, gradOutput.value ?? Tensor.zeros([])) }
                return gradInput
            })(input)
        }
        var output = body(source)
        for hook in forwardHooks {
            if let replaced = hook(self, input, output) { output = replaced }
        }
        if !backwardHooks.isEmpty && output.requiresGrad {
            let inputTracked = input.requiresGrad
            output = customVJP({ $0 }, vjp: { [unowned self] _, _, gradient in
                gradOutput.value = gradient
                if !inputTracked { for hook in self.backwardHooks { hook(self, nil, gradient) } }
                return gradient
            })(output)
        }
        return output
    }
}

/// Holds a module's output gradient until its input gradient arrives.
final class GradientSlot: @unchecked Sendable {
    var value: Tensor?
}
