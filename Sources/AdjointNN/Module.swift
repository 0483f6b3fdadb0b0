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
    /// Hooks run after `forward`, in registration order.
    var forwardHooks: [(Module, Tensor, Tensor) -> Tensor?] = []

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
        case Optional<Any>.some(let wrapped):
            collect(wrapped, name: name, into: &collection)
        default:
            break
        }
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
            .filter { !$0.0.hasPrefix("_") && $0.0 != "forwardHooks" }
    }

    /// Runs `hook(module, input, output)` after every call through `callForward`; a
    /// non-nil result replaces the output (PyTorch's `register_forward_hook`).
    public func registerForwardHook(_ hook: @escaping (Module, Tensor, Tensor) -> Tensor?) {
        forwardHooks.append(hook)
    }

    /// Applies forward hooks to an output (layers call this at the end of `callAsFunction`).
    public func applyForwardHooks(input: Tensor, output: Tensor) -> Tensor {
        var result = output
        for hook in forwardHooks {
            if let replaced = hook(self, input, result) { result = replaced }
        }
        return result
    }
}
