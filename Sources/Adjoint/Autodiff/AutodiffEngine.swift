/// The reverse-mode walk: topological order from the root, pullbacks in reverse order,
/// cotangents summed per node and back to each input's shape.
enum AutodiffEngine {
    /// Propagates `seed` from `root` back through the graph.
    ///
    /// - Parameters:
    ///   - targets: nodes whose incoming gradient is wanted (nil: every leaf, for `backward`).
    ///     Only nodes from which a target is reachable run their pullback.
    ///   - accumulateIntoLeaves: add into leaf (and `retainGrad`) `grad`s, as `backward()`.
    /// - Returns: the total gradient that reached each target node.
    static func run(
        root: GradNode, seed: Tensor, targets: [GradNode]?, accumulateIntoLeaves: Bool,
        retainGraph: Bool, createGraph: Bool, caller: String
    ) -> [ObjectIdentifier: Tensor] {
        let targetIDs = targets.map { Set($0.map(ObjectIdentifier.init)) }
        let order = reverseTopologicalOrder(from: root, targets: targetIDs)
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        var found: [ObjectIdentifier: Tensor] = [:]

        GradMode.$isEnabled.withValue(createGraph) {
            for node in order {
                let id = ObjectIdentifier(node)
                guard var gradient = pending.removeValue(forKey: id) else { continue }
                for hook in node.hooks {
                    if let replaced = hook(gradient) { gradient = replaced }
                }
                if !createGraph { gradient = gradient.detach() }
                if let targetIDs, targetIDs.contains(id) { found[id] = gradient }
                if accumulateIntoLeaves, node.isLeaf || node.retainsGrad {
                    node.grad = node.grad.map { $0 + gradient } ?? gradient
                }
                if node.isLeaf { continue }
                guard let pullback = node.pullback else {
                    fatalError("Adjoint.backward: trying to backward through \(node.name) a second time (created at \(node.callSite)); its saved values were freed by the first backward. Pass retainGraph: true to the first call (backward called at \(caller))")
                }
                let inputs = node.inputs
                let cotangents = pullback(gradient, inputs, node.output)
                for (index, edge) in node.edges.enumerated() {
                    guard let edge, index < cotangents.count, let cotangent = cotangents[index] else { continue }
                    let shaped = cotangent.summed(toShape: node.inputLayouts[index].shape, op: node.name)
                    let edgeID = ObjectIdentifier(edge)
                    pending[edgeID] = pending[edgeID].map { $0 + shaped } ?? shaped
                }
                if !retainGraph { node.free() }
            }
        }
        return found
    }

    /// Nodes reachable from `root` (through nodes that lead to a target, when targets are
    /// given), ordered so each node comes before every node it sends gradients to.
    private static func reverseTopologicalOrder(from root: GradNode, targets: Set<ObjectIdentifier>?) -> [GradNode] {
        var postOrder: [GradNode] = []
        var visited: Set<ObjectIdentifier> = []
        var leadsToTarget: Set<ObjectIdentifier> = []
        var stack: [(node: GradNode, nextEdge: Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while !stack.isEmpty {
            let (node, nextEdge) = stack[stack.count - 1]
            if nextEdge < node.edges.count {
                stack[stack.count - 1].nextEdge += 1
                if let child = node.edges[nextEdge], visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
                continue
            }
            stack.removeLast()
            let id = ObjectIdentifier(node)
            if let targets {
                let reaches = targets.contains(id) || node.edges.contains { $0.map { leadsToTarget.contains(ObjectIdentifier($0)) } ?? false }
                if reaches { leadsToTarget.insert(id) } else { continue }
            }
            postOrder.append(node)
        }
        return postOrder.reversed()
    }
}
