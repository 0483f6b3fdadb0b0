import Foundation

/// Reading values back to the host (the only synchronization points) and moving data.
extension Tensor {
    /// The elements in row-major order, converted to `T`.
    ///
    /// Waits for the device. Throws the `AdjointError` that kept this tensor from being
    /// computed (device lost, out of memory, ...), if any.
    public func scalars<T: TensorScalar>(as type: T.Type = T.self, file: StaticString = #fileID, line: UInt = #line) throws -> [T] {
        checkNotBatched("scalars", file: file, line: line)
        if isTraced { throw Tensor.hostReadWhileTracing("scalars", shape: shape) }
        let source = dtype == T.dtype ? self : self.cast(to: T.dtype)
        let dense = source.contiguous()
        if let failure = dense.failure { throw failure }
        let count = dense.count
        if count == 0 { return [] }
        let backend = try DeviceRegistry.shared.backend(for: device)
        if T.self == Bool.self {
            var bytes = [UInt8](repeating: 0, count: count)
            try bytes.withUnsafeMutableBytes { try backend.read(dense.storage.buffer!, into: $0) }
            return bytes.map { ($0 != 0) as! T }
        }
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try backend.read(dense.storage.buffer!, into: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// The elements as doubles, in row-major order.
    public func doubles() throws -> [Double] {
        switch dtype {
        case .float32: return try scalars(as: Float.self).map(Double.init)
        case .float64: return try scalars(as: Double.self)
        case .int32: return try scalars(as: Int32.self).map(Double.init)
        case .bool: return try scalars(as: Bool.self).map { $0 ? 1 : 0 }
        }
    }

    /// The single element of a one-element tensor.
    public func item<T: TensorScalar>(as type: T.Type = T.self, file: StaticString = #fileID, line: UInt = #line) throws -> T {
        check(count == 1, "item", "only one-element tensors convert to a scalar; shape is \(shape)", file: file, line: line)
        return try scalars(as: T.self)[0]
    }

    /// The single element as a Float (convenience for tests and printing).
    public func float(file: StaticString = #fileID, line: UInt = #line) throws -> Float {
        try item(as: Float.self, file: file, line: line)
    }

    /// A copy on `device`. The copy is differentiable: its gradient moves back to this
    /// tensor's device.
    public func to(_ device: Device) -> Tensor {
        if device == self.device { return self }
        if let box = batch {
            let source = self.device
            return Tensor.record("To", [self], output: Tensor.batched(box.physical.to(device), level: box.level), file: #fileID, line: #line) { gradient, _, _ in
                [gradient.to(source)]
            }
        }
        let dense = self.value.contiguous()
        let moved: Storage
        if dense.isTraced {
            moved = Storage(device: device, dtype: dtype, failure: Tensor.hostReadWhileTracing("to(\(device))", shape: shape))
        } else if let failure = dense.failure {
            moved = Storage(device: device, dtype: dtype, failure: failure)
        } else {
            do {
                let backend = try DeviceRegistry.shared.backend(for: self.device)
                var bytes = [UInt8](repeating: 0, count: dense.count * dtype.byteSize)
                if !bytes.isEmpty { try bytes.withUnsafeMutableBytes { try backend.read(dense.storage.buffer!, into: $0) } }
                moved = bytes.withUnsafeBytes { Dispatch.upload($0, dtype: dtype, device: device) }
            } catch let error as AdjointError {
                moved = Storage(device: device, dtype: dtype, failure: error)
            } catch {
                moved = Storage(device: device, dtype: dtype, failure: .unsupported("\(error)"))
            }
        }
        let source = self.device
        let output = Tensor(storage: moved, layout: Layout(contiguous: shape))
        return Tensor.record("To", [self], output: output, file: #fileID, line: #line) { gradient, _, _ in
            [gradient.to(source)]
        }
    }

    /// The same values in a row-major contiguous buffer (self when already so).
    public func contiguous() -> Tensor {
        if let box = batch {
            if box.physical.layout.isContiguous && box.physical.layout.offset == 0 { return self }
            return Tensor.record("Contiguous", [self], output: Tensor.batched(box.physical.contiguous(), level: box.level), file: #fileID, line: #line) { gradient, _, _ in [gradient] }
        }
        if layout.isContiguous && (layout.offset == 0 || count == 0) { return self }
        let output = Tensor(storage: Dispatch.run(.copy, [value], shape: shape, dtype: dtype, device: device), layout: Layout(contiguous: shape))
        return Tensor.record("Contiguous", [self], output: output, file: #fileID, line: #line) { gradient, _, _ in [gradient] }
    }
}

extension Tensor: CustomStringConvertible {
    /// A numpy-like printout, e.g. `[[1, 2], [3, 4]]`, with the device when not the CPU.
    public var description: String {
        if let failure { return "Tensor(failed: \(failure))" }
        if isTraced { return "TracedTensor(shape: \(shape), dtype: \(dtype))" }
        if let batch { return "BatchedTensor(level: \(batch.level), examples: \(batch.size), shape: \(shape))" }
        guard let values = try? doubles() else { return "Tensor(shape: \(shape), unreadable)" }
        let format: (Double) -> String = { value in
            switch self.dtype {
            case .bool: return value != 0 ? "true" : "false"
            case .int32: return String(Int(value))
            default:
                if value.isNaN { return "nan" }
                if value.isInfinite { return value > 0 ? "inf" : "-inf" }
                if value == value.rounded(), Swift.abs(value) < 1e15 { return String(Int(value)) }
                return String(format: "%.6g", value)
            }
        }
        func render(_ axis: Int, _ offset: Int) -> String {
            if axis == shape.count { return format(values[offset]) }
            let step = shape[(axis + 1)...].reduce(1, *)
            let parts = (0..<shape[axis]).map { render(axis + 1, offset + $0 * step) }
            let separator = axis == shape.count - 1 ? ", " : ",\n" + String(repeating: " ", count: axis + 1)
            return "[" + parts.joined(separator: separator) + "]"
        }
        var text = render(0, 0)
        if dtype != .float32 { text += ", dtype: \(dtype)" }
        if device != .cpu { text += ", device: \(device)" }
        return text
    }
}
