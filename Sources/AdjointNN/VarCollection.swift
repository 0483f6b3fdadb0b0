import Adjoint

/// An ordered collection of named variables, as Objax's `VarCollection`: names show the
/// path through the module tree, e.g. `(Sequential)[0](Linear).w`.
///
/// ```swift
/// print(model.vars())
/// // (Sequential)[0](Linear).b        3 (3,)
/// // ...
/// // +Total(4)                       25
/// ```
public struct VarCollection: Sequence, CustomStringConvertible, @unchecked Sendable {
    /// The entries in order.
    public private(set) var entries: [(name: String, variable: BaseVar)] = []

    /// An empty collection.
    public init() {}

    /// A collection of the given entries. A name given twice for the same variable is kept
    /// once; for two different variables it stops with a message naming it (as Objax's
    /// name conflict does): one of them would otherwise be dropped, and an optimizer over
    /// the collection would silently never train it.
    public init(_ entries: [(name: String, variable: BaseVar)], file: StaticString = #fileID, line: UInt = #line) {
        for entry in entries {
            if let existing = self[entry.name] {
                guard existing === entry.variable else {
                    fatalError("AdjointNN.VarCollection: two different variables named \(entry.name) (at \(file):\(line)); "
                        + "give them distinct names (modules under one parent module, or VarCollection with explicit names)")
                }
                continue
            }
            self[entry.name] = entry.variable
        }
    }

    /// The variable named `name`.
    public subscript(name: String) -> BaseVar? {
        get { entries.first { $0.name == name }?.variable }
        set {
            if let index = entries.firstIndex(where: { $0.name == name }) {
                if let newValue { entries[index].variable = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((name, newValue))
            }
        }
    }

    /// Number of variables.
    public var count: Int { entries.count }
    /// The names in order.
    public var names: [String] { entries.map(\.name) }
    /// The variables in order.
    public var variables: [BaseVar] { entries.map(\.variable) }

    /// Iterates the `(name, variable)` entries in order.
    public func makeIterator() -> IndexingIterator<[(name: String, variable: BaseVar)]> { entries.makeIterator() }

    /// The variables of one kind, e.g. `subset(TrainVar.self)`.
    public func subset<V: BaseVar>(_ kind: V.Type) -> VarCollection {
        VarCollection(entries.filter { $0.variable is V })
    }

    /// The trainable variables, each once (a variable under two names, a layer used
    /// twice for tied weights, is differentiated and updated once, by its summed gradient).
    public var trainVars: [TrainVar] {
        var seen = Set<ObjectIdentifier>()
        return entries.compactMap { $0.variable as? TrainVar }.filter { seen.insert(ObjectIdentifier($0)).inserted }
    }

    /// The variables whose name satisfies `include`.
    public func filter(names include: (String) -> Bool) -> VarCollection {
        VarCollection(entries.filter { include($0.name) })
    }

    /// The variables whose name contains `text`.
    public func filter(containing text: String) -> VarCollection { filter { $0.contains(text) } }

    /// The variables whose name does not contain `text` (e.g. to freeze a layer).
    public func excluding(_ text: String) -> VarCollection { filter { !$0.contains(text) } }

    /// Both collections (a variable in both appears once; two different variables of one
    /// name stop with a message, see `init(_:)`).
    public static func + (lhs: VarCollection, rhs: VarCollection) -> VarCollection {
        VarCollection(lhs.entries + rhs.entries)
    }

    /// The current values, in order.
    public func tensors() -> [Tensor] { entries.map { $0.variable.value } }

    /// Assigns new values, one per variable in order.
    public func assign(_ values: [Tensor], file: StaticString = #fileID, line: UInt = #line) {
        guard values.count == entries.count else {
            fatalError("AdjointNN.VarCollection.assign: \(values.count) values for \(entries.count) variables (at \(file):\(line))")
        }
        for (entry, value) in zip(entries, values) { entry.variable.assign(value, file: file, line: line) }
    }

    /// Total number of scalar parameters.
    public var parameterCount: Int { entries.map { $0.variable.value.count }.reduce(0, +) }

    /// Objax's table: name, size and shape per variable, then the total.
    public var description: String {
        let width = Swift.max(entries.map(\.name.count).max() ?? 0, "+Total(\(count))".count)
        func pad(_ text: String) -> String { text + String(repeating: " ", count: width - text.count) }
        func right(_ number: Int) -> String { let text = String(number); return String(repeating: " ", count: Swift.max(0, 8 - text.count)) + text }
        func tuple(_ shape: [Int]) -> String { shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")" }
        var lines = entries.map { "\(pad($0.name)) \(right($0.variable.value.count)) \(tuple($0.variable.value.shape))" }
        lines.append("\(pad("+Total(\(count))")) \(right(parameterCount))")
        return lines.joined(separator: "\n")
    }
}
