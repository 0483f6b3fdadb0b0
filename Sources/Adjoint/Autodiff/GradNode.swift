/// A pullback: maps the cotangent of an op's output to the cotangents of its inputs.
/// `inputs` are the op's inputs with their autodiff history and `output` its result, so a
/// pullback written with Tensor ops is itself differentiable (grad of grad). A returned
/// cotangent may have the broadcast (output) shape; the engine sums it back to the
/// input's shape. `nil` means "no gradient flows to this input".
typealias Pullback = @Sendable (_ cotangent: Tensor, _ inputs: [Tensor], _ output: Tensor) -> [Tensor?]

/// A node of the autodiff graph: either the op that produced a tensor (with its
/// pullback), or a leaf's gradient accumulator.
final class GradNode: @unchecked Sendable {
    /// The op's name (`Mul`), nil for a leaf. Names and call sites are put together
    /// only when read (messages, `grad_fn`): building them for every recorded op cost an
    /// allocation and an interpolation per op.
    private let opName: String?
    /// PyTorch-style name, e.g. `MulBackward` or `AccumulateGrad`.
    var name: String { opName.map { $0 + "Backward" } ?? "AccumulateGrad" }
    /// Inputs as they were given (with their nodes); emptied when the graph is freed.
    private(set) var inputs: [Tensor]
    /// The nodes this node sends gradients to, one per input (nil: no gradient wanted).
    let edges: [GradNode?]
    /// The inputs' layouts, kept after freeing for shape messages and unbroadcasting.
    let inputLayouts: [Layout]
    /// The pullback; nil for leaves and after the graph was freed by `backward()`.
    private(set) var pullback: Pullback?
    /// The output's data (not the node itself, which would be a cycle).
    let outputStorage: Storage?
    let outputLayout: Layout
    /// The output's batch box when it was computed inside vmap.
    let outputBatch: BatchBox?
    /// Whether this is a leaf accumulator.
    let isLeaf: Bool
    /// Whether the graph behind this node was released by a backward pass.
    private(set) var isFreed = false
    /// Accumulated gradient (leaves, and non-leaves that `retainGrad()`).
    var grad: Tensor?
    /// Whether a non-leaf keeps its gradient in `grad`.
    var retainsGrad = false
    /// Hooks run on the gradient arriving at this node, in registration order.
    var hooks: [@Sendable (Tensor) -> Tensor?] = []
    private let file: StaticString
    private let line: UInt
    /// Where the op was called, for messages raised during backward.
    var callSite: String { "\(file):\(line)" }

    /// An op node: `op` is the op's name (`Mul`), `file` and `line` where it was called.
    init(op: String, inputs: [Tensor], pullback: @escaping Pullback, output: Tensor, file: StaticString, line: UInt) {
        self.opName = op
        self.inputs = inputs
        self.edges = inputs.map { $0.node }
        self.inputLayouts = inputs.map { $0.layout }
        self.pullback = pullback
        self.outputStorage = output.storage
        self.outputLayout = output.layout
        self.outputBatch = output.batch
        self.isLeaf = false
        self.file = file
        self.line = line
    }

    /// A leaf accumulator for a tensor of `layout`.
    init(leafOf layout: Layout) {
        self.opName = nil
        self.inputs = []
        self.edges = []
        self.inputLayouts = []
        self.pullback = nil
        self.outputStorage = nil
        self.outputLayout = layout
        self.outputBatch = nil
        self.isLeaf = true
        self.file = ""
        self.line = 0
    }

    /// The nodes this node sends gradients to (nil for inputs that do not require grad).
    var nextNodes: [GradNode?] { edges }

    /// The output tensor, re-attached to this node (for pullbacks that use it).
    var output: Tensor {
        Tensor(storage: outputStorage!, layout: outputLayout, node: self, batch: outputBatch)
    }

    /// Drops the pullback and saved inputs so their memory can go (`retainGraph: false`).
    func free() {
        pullback = nil
        inputs = []
        isFreed = true
    }
}

/// A read-only view of an autodiff graph node, as PyTorch's `grad_fn`.
public struct GradFunction: CustomStringConvertible, Sendable {
    let node: GradNode

    /// The node's name: `SinBackward`, `MulBackward`, ..., or `AccumulateGrad` for a leaf.
    public var name: String { node.name }

    /// The nodes that receive this node's input gradients, one per input, nil for an
    /// input that does not require grad (PyTorch's `next_functions`).
    public var nextFunctions: [GradFunction?] {
        node.nextNodes.map { $0.map(GradFunction.init(node:)) }
    }

    public var description: String { "<\(name)>" }
}
