import Adjoint

/// A module that maps one tensor to one tensor, so it can sit in a `Sequential`.
public protocol Layer: Module {
    /// Applies the layer.
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// A plain function as a layer (no variables), e.g. `Lambda(relu)`.
public final class Lambda: Module, Layer, @unchecked Sendable {
    let function: (Tensor) -> Tensor
    let name: String

    /// Wraps `function`; `name` appears in printouts.
    public init(_ name: String = "Lambda", _ function: @escaping (Tensor) -> Tensor) {
        self.function = function
        self.name = name
    }

    /// Wraps `function`.
    public convenience init(_ function: @escaping (Tensor) -> Tensor) {
        self.init("Lambda", function)
    }

    override public var typeName: String { name }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor { hooked(input, function) }
}

/// Builds the layer list of a `Sequential` from modules and plain functions.
@resultBuilder
public enum LayerBuilder {
    /// A module that is a layer.
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    /// A plain function, wrapped in `Lambda`.
    public static func buildExpression(_ function: @escaping (Tensor) -> Tensor) -> [any Layer] { [Lambda(function)] }
    /// The layers in order.
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    /// Layers inside `if`.
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    /// The `if` branch.
    public static func buildEither(first: [any Layer]) -> [any Layer] { first }
    /// The `else` branch.
    public static func buildEither(second: [any Layer]) -> [any Layer] { second }
    /// Layers from a `for` loop.
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}

/// A list of modules named by index: `(ModuleList)[0](Linear).w`.
open class ModuleList: Module, @unchecked Sendable {
    /// The modules in order.
    public var modules: [Module]

    /// A list of `modules`.
    public init(_ modules: [Module]) {
        self.modules = modules
    }

    override open func vars(scope: String = "") -> VarCollection {
        var collection = VarCollection()
        for (index, module) in modules.enumerated() {
            collection = collection + module.vars(scope: scope + "(\(typeName))[\(index)]")
        }
        return collection
    }
}

/// Layers applied in order; modules and plain functions mix.
///
/// ```swift
/// let model = Sequential { Linear(2, 3); relu; Linear(3, 4) }
/// ```
public final class Sequential: ModuleList, Layer, @unchecked Sendable {
    /// The layers in order.
    public var layers: [any Layer] { modules.map { $0 as! any Layer } }

    /// A sequence of `layers`.
    public init(_ layers: [any Layer]) {
        super.init(layers)
    }

    /// A sequence built from modules and functions.
    public convenience init(@LayerBuilder _ build: () -> [any Layer]) {
        self.init(build())
    }

    /// Applies the layer to `input`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        hooked(input) { x in layers.reduce(x) { $1($0) } }
    }
}
