import Foundation
import AdjointTestSupport
import Testing
@testable import Adjoint

/// One backend for the whole suite, so each program family is built once per process.
private enum SharedOpenCL {
    static let backend: Result<OpenCLBackend, AdjointError> = {
        do {
            return .success(try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory()))
        } catch let error as AdjointError {
            return .failure(error)
        } catch {
            return .failure(.deviceUnavailable(device: "opencl:0", reason: "\(error)"))
        }
    }()
}

/// The shared backend, or nil when this machine has no OpenCL device (a failure when CI=true).
private func openCL(sourceLocation: SourceLocation = #_sourceLocation) -> OpenCLBackend? {
    switch SharedOpenCL.backend {
    case .success(let backend): return backend
    case .failure(let error):
        let problem = OpenCLRuntime.discover().problem ?? "\(error)"
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("no OpenCL device on CI: \(problem)", sourceLocation: sourceLocation)
        } else {
            print("no OpenCL device, skipping: \(problem)")
        }
        return nil
    }
}

// MARK: - Host helpers

private func upload<T>(_ backend: OpenCLBackend, _ values: [T]) throws -> DeviceBuffer {
    let buffer = try backend.allocate(byteCount: values.count * MemoryLayout<T>.stride)
    try values.withUnsafeBytes { try backend.write($0, to: buffer) }
    return buffer
}

private func download<T>(_ backend: OpenCLBackend, _ buffer: DeviceBuffer, count: Int, as: T.Type = T.self) throws -> [T] where T: Numeric {
    var values = [T](repeating: 0, count: count)
    try values.withUnsafeMutableBytes { try backend.read(buffer, into: $0) }
    return values
}

private func view(_ buffer: DeviceBuffer, _ dtype: DType, _ shape: [Int], strides: [Int]? = nil, offset: Int = 0) -> BufferView {
    BufferView(buffer: buffer, layout: Layout(shape: shape, strides: strides ?? Layout.contiguousStrides(for: shape), offset: offset), dtype: dtype)
}

/// Runs `call` into a fresh contiguous output of `shape` and returns it.
private func run<T: Numeric>(_ backend: OpenCLBackend, _ call: Primitive, _ inputs: [BufferView], _ dtype: DType, _ shape: [Int], as: T.Type) throws -> [T] {
    let count = shape.reduce(1, *)
    let out = try backend.allocate(byteCount: count * dtype.byteSize)
    #expect(backend.supports(call, inputs: inputs.map(\.dtype), output: dtype), "\(call) \(inputs.map(\.dtype)) -> \(dtype)")
    try backend.execute(call, inputs: inputs, output: view(out, dtype, shape))
    return try download(backend, out, count: count)
}

private func close(_ a: [Float], _ b: [Float], tolerance: Float = 1e-5) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in (x.isNaN && y.isNaN) || x == y || abs(x - y) <= tolerance * max(1, abs(y)) }
}

private func close(_ a: [Double], _ b: [Double], tolerance: Double = 1e-12) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { x, y in (x.isNaN && y.isNaN) || x == y || abs(x - y) <= tolerance * max(1, abs(y)) }
}

/// Reference Philox-4x32-10 (Random123), written independently of the kernel.
private func philox(_ counter: [UInt32], _ key: [UInt32]) -> [UInt32] {
    var c = counter, k = key
    for round in 0..<10 {
        if round > 0 { k[0] &+= 0x9E37_79B9; k[1] &+= 0xBB67_AE85 }
        let p0 = UInt64(0xD251_1F53) * UInt64(c[0]), p1 = UInt64(0xCD9E_8D57) * UInt64(c[2])
        c = [UInt32(p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1), UInt32(p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0)]
    }
    return c
}

private func philoxWord(_ n: Int, seed: UInt64, offset: UInt64) -> UInt32 {
    let q = UInt64(n / 4)
    return philox([UInt32(truncatingIfNeeded: q), UInt32(q >> 32), UInt32(truncatingIfNeeded: offset), UInt32(offset >> 32)],
                  [UInt32(truncatingIfNeeded: seed), UInt32(seed >> 32)])[n % 4]
}

@Suite struct OpenCLBackendTests {
    // MARK: - Runtime

    @Test func statusNamesCoverOpenCL12() {
        #expect(OpenCLStatus.name(0) == "CL_SUCCESS")
        #expect(OpenCLStatus.name(-4) == "CL_MEM_OBJECT_ALLOCATION_FAILURE")
        #expect(OpenCLStatus.name(-5) == "CL_OUT_OF_RESOURCES")
        #expect(OpenCLStatus.name(-11) == "CL_BUILD_PROGRAM_FAILURE")
        #expect(OpenCLStatus.name(-19) == "CL_KERNEL_ARG_INFO_NOT_AVAILABLE")
        #expect(OpenCLStatus.name(-54) == "CL_INVALID_WORK_GROUP_SIZE")
        #expect(OpenCLStatus.name(-68) == "CL_INVALID_DEVICE_PARTITION_COUNT")
        #expect(OpenCLStatus.name(-1001) == "CL_PLATFORM_NOT_FOUND_KHR")
        #expect(OpenCLStatus.name(-999) == "CL_UNKNOWN_ERROR(-999)")
        // 0...-19 and -30...-68, plus -1001
        #expect(OpenCLStatus.names.count == 20 + 39 + 1)
        for code in Int32(-68)...0 where !(-29 ... -20).contains(code) { #expect(OpenCLStatus.names[code] != nil, "code \(code)") }
        let error = OpenCLStatus.error(-5, "clFinish")
        #expect(error == .openCL(status: "CL_OUT_OF_RESOURCES", code: -5, operation: "clFinish"))
    }

    @Test func noPlatformMessageIsActionable() {
        let standard = OpenCLRuntime.noPlatformMessage(environment: [:])
        #expect(standard.contains("/etc/OpenCL/vendors") && standard.contains("pocl-opencl-icd") && standard.contains("no OpenCL platform"))
        let custom = OpenCLRuntime.noPlatformMessage(environment: ["OCL_ICD_VENDORS": "/opt/icds"])
        #expect(custom.contains("/opt/icds") && custom.contains("OCL_ICD_VENDORS"))
    }

    @Test func discoveryNumbersDevices() throws {
        let discovery = OpenCLRuntime.discover()
        guard openCL() != nil else { return }
        #expect(discovery.problem == nil)
        for (index, info) in discovery.devices.enumerated() {
            #expect(info.device == .opencl(index))
            #expect(!info.name.isEmpty && !info.version.isEmpty && info.memoryBytes > 0)
        }
        #expect(throws: AdjointError.self) { try OpenCLRuntime.makeBackend(deviceIndex: discovery.devices.count) }
    }

    @Test func buildFailureCarriesLog() throws {
        guard let backend = openCL() else { return }
        do {
            _ = try OpenCLProgramCache.fromSource(name: "broken", source: "__kernel void k(__global float* x) { x[0] = undefined_name; }",
                                                  options: backend.buildOptions, context: backend.context, device: backend.deviceID, deviceName: backend.info.name)
            Issue.record("a broken program built")
        } catch let AdjointError.kernelBuild(program, _, log) {
            #expect(program == "broken")
            #expect(log.contains("undefined_name"))
        }
    }

    // MARK: - Memory

    @Test func poolReusesBuffersAndTracksBytes() throws {
        guard openCL() != nil else { return }
        let backend = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: nil)
        let start = backend.ledger
        do {
            let buffer = try backend.allocate(byteCount: 1000)
            #expect(buffer.byteCount >= 1000)
            #expect(backend.ledger.liveBytes == start.liveBytes + buffer.byteCount)
            #expect(backend.ledger.liveBuffers == start.liveBuffers + 1)
        }
        #expect(backend.ledger.liveBytes == start.liveBytes)
        #expect(backend.ledger.pooledBytes > start.pooledBytes)
        do {
            let again = try backend.allocate(byteCount: 1000)
            #expect(backend.ledger.poolHits == start.poolHits + 1)
            #expect(backend.ledger.poolMisses == start.poolMisses + 1)
            let values: [Int32] = Array(0..<250)
            try values.withUnsafeBytes { try backend.write($0, to: again) }
            #expect(try download(backend, again, count: 250, as: Int32.self) == values)
            #expect(backend.ledger.bytesToDevice == 1000 && backend.ledger.bytesFromDevice == 1000)
        }
        let empty = try backend.allocate(byteCount: 0)
        #expect(empty.byteCount > 0)
        try backend.write(UnsafeRawBufferPointer(start: nil, count: 0), to: empty)
        try backend.read(empty, into: UnsafeMutableRawBufferPointer(start: nil, count: 0))
        backend.emptyPool()
        #expect(backend.ledger.pooledBytes == 0)
        #expect(backend.ledger.peakBytes >= 1000)
        backend.recordFallback(.matmul)
        #expect(backend.ledger.cpuFallbacks == 1)
    }

    @Test func poolBuckets() {
        #expect(OpenCLBufferPool.bucket(for: 0) == 64)
        #expect(OpenCLBufferPool.bucket(for: 65) == 128)
        #expect(OpenCLBufferPool.bucket(for: 1000) == 1024)
        #expect(OpenCLBufferPool.bucket(for: 1025) == 2048 / 8 * 5)
        #expect(OpenCLBufferPool.bucket(for: 1 << 20) == 1 << 20)
    }

    // MARK: - Program cache

    @Test func programCacheOnDisk() throws {
        guard openCL() != nil else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("adjoint-cl-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func draw(_ backend: OpenCLBackend) throws -> [Int32] {
            let out = try backend.allocate(byteCount: 16)
            try backend.execute(.random(.bits, seed: 0, offset: 0), inputs: [], output: view(out, .int32, [4]))
            return try download(backend, out, count: 4)
        }
        let first = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: directory)
        let expected = try draw(first)
        #expect(first.ledger.programsCompiled == 1 && first.ledger.programsLoadedFromCache == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".clbin") }
        #expect(files.count == 1)
        #expect(files.first.map { $0.count == 16 + ".clbin".count } == true)

        let second = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: directory)
        #expect(try draw(second) == expected)
        #expect(second.ledger.programsCompiled == 0 && second.ledger.programsLoadedFromCache == 1)

        // A corrupted entry is rebuilt and overwritten.
        let entry = directory.appendingPathComponent(files[0])
        try Data("not a program binary".utf8).write(to: entry)
        let third = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: directory)
        #expect(try draw(third) == expected)
        #expect(third.ledger.programsCompiled == 1 && third.ledger.programsLoadedFromCache == 0)
        #expect(try Data(contentsOf: entry).count > 100)
        let fourth = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: directory)
        #expect(try draw(fourth) == expected)
        #expect(fourth.ledger.programsLoadedFromCache == 1)

        // A well-formed entry whose binary the driver rejects (stale) is rebuilt, not trusted.
        let source = try #require(OpenCLBackend.source(family: "random"))
        fourth.programCache.store(Array("garbage that is not a device binary".utf8), options: fourth.buildOptions, source: source)
        #expect(fourth.programCache.load(options: fourth.buildOptions, source: source) != nil)
        let fifth = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: directory)
        #expect(try draw(fifth) == expected)
        #expect(fifth.ledger.programsCompiled == 1 && fifth.ledger.programsLoadedFromCache == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".tmp") }.isEmpty)
    }

    @Test func cacheKeyAndDefaultDirectory() {
        let cache = OpenCLProgramCache(directory: nil, platformName: "P", deviceName: "D", driverVersion: "1")
        #expect(cache.key(options: "-a", source: "x").count == 16)
        #expect(cache.key(options: "-a", source: "x") != cache.key(options: "-a", source: "y"))
        #expect(cache.key(options: "-a", source: "x") != cache.key(options: "-b", source: "x"))
        #expect(OpenCLProgramCache.fnv1a("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(OpenCLProgramCache.defaultDirectory(environment: ["ADJOINT_CACHE_DIR": "/x"])?.path == "/x")
        #expect(OpenCLProgramCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/c"])?.path == "/c/adjoint")
        #expect(OpenCLProgramCache.defaultDirectory(environment: ["HOME": "/h"])?.path == "/h/.cache/adjoint")
    }

    // MARK: - Elementwise

    @Test func unaryFloat32() throws {
        guard let b = openCL() else { return }
        let x: [Float] = [-2.5, -0.5, 0, 0.5, 1.5, 2.5, -100, 100]
        let xb = view(try upload(b, x), .float32, [8])
        func un(_ op: UnaryOp) throws -> [Float] { try run(b, .unary(op), [xb], .float32, [8], as: Float.self) }
        #expect(try un(.neg) == [2.5, 0.5, 0, -0.5, -1.5, -2.5, 100, -100])
        #expect(try un(.abs) == [2.5, 0.5, 0, 0.5, 1.5, 2.5, 100, 100])
        #expect(try un(.sign) == [-1, -1, 0, 1, 1, 1, -1, 1])
        #expect(try un(.floor) == [-3, -1, 0, 0, 1, 2, -100, 100])
        #expect(try un(.round) == [-3, -1, 0, 1, 2, 3, -100, 100])
        let sigmoid = try un(.sigmoid)
        #expect(close(sigmoid, [0.0758582, 0.3775407, 0.5, 0.6224593, 0.8175745, 0.9241418, 0, 1]))
        #expect(!sigmoid.contains { $0.isNaN })
        #expect(close(try un(.exp), x.map { Foundation.exp($0) }))
        #expect(close(try un(.tanh), x.map { Foundation.tanh($0) }))
        #expect(close(try un(.sin), x.map { Foundation.sin($0) }))
        #expect(close(try un(.cos), x.map { Foundation.cos($0) }))
        let positive = view(try upload(b, [Float](arrayLiteral: 1, 4, 0.25, 0)), .float32, [4])
        #expect(try run(b, .unary(.sqrt), [positive], .float32, [4], as: Float.self) == [1, 2, 0.5, 0])
        #expect(close(try run(b, .unary(.log), [positive], .float32, [4], as: Float.self), [0, 1.3862944, -1.3862944, -.infinity]))
    }

    @Test func unaryIntBoolAndFloat64() throws {
        guard let b = openCL() else { return }
        let i = view(try upload(b, [Int32](arrayLiteral: -3, 0, 7, Int32.min)), .int32, [4])
        #expect(try run(b, .unary(.neg), [i], .int32, [4], as: Int32.self) == [3, 0, -7, Int32.min])
        #expect(try run(b, .unary(.abs), [i], .int32, [4], as: Int32.self) == [3, 0, 7, Int32.min])
        #expect(try run(b, .unary(.sign), [i], .int32, [4], as: Int32.self) == [-1, 0, 1, -1])
        #expect(!b.supports(.unary(.exp), inputs: [.int32], output: .int32))
        let m = view(try upload(b, [UInt8](arrayLiteral: 1, 0, 1)), .bool, [3])
        #expect(try run(b, .unary(.logicalNot), [m], .bool, [3], as: UInt8.self) == [0, 1, 0])
        if b.supportsFloat64 {
            let d = view(try upload(b, [Double](arrayLiteral: -1.5, 0.5, 2)), .float64, [3])
            #expect(try run(b, .unary(.round), [d], .float64, [3], as: Double.self) == [-2, 1, 2])
            #expect(close(try run(b, .unary(.exp), [d], .float64, [3], as: Double.self), [Foundation.exp(-1.5), Foundation.exp(0.5), Foundation.exp(2)]))
        } else {
            #expect(!b.supports(.unary(.exp), inputs: [.float64], output: .float64))
        }
    }

    @Test func binaryBroadcastAndPermuted() throws {
        guard let b = openCL() else { return }
        // a: [2, 3] = [[1, 2, 3], [4, 5, 6]]; row: [3] broadcast over axis 0 (stride 0).
        let a = try upload(b, [Float](arrayLiteral: 1, 2, 3, 4, 5, 6))
        let row = try upload(b, [Float](arrayLiteral: 10, 20, 30))
        let av = view(a, .float32, [2, 3]), rowv = view(row, .float32, [2, 3], strides: [0, 1])
        #expect(try run(b, .binary(.add), [av, rowv], .float32, [2, 3], as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect(try run(b, .binary(.sub), [rowv, av], .float32, [2, 3], as: Float.self) == [9, 18, 27, 6, 15, 24])
        // Column broadcast: c[i] for [2, 3] with strides [1, 0].
        let col = try upload(b, [Float](arrayLiteral: 2, 3))
        #expect(try run(b, .binary(.mul), [av, view(col, .float32, [2, 3], strides: [1, 0])], .float32, [2, 3], as: Float.self) == [2, 4, 6, 12, 15, 18])
        // Permuted: aᵀ [3, 2] (strides [1, 3]) divided by itself plus a scalar (rank 0 broadcast).
        let at = view(a, .float32, [3, 2], strides: [1, 3])
        let two = try upload(b, [Float](arrayLiteral: 2))
        #expect(try run(b, .binary(.div), [at, view(two, .float32, [3, 2], strides: [0, 0])], .float32, [3, 2], as: Float.self) == [0.5, 2, 1, 2.5, 1.5, 3])
        #expect(try run(b, .binary(.pow), [at, view(two, .float32, [3, 2], strides: [0, 0])], .float32, [3, 2], as: Float.self) == [1, 16, 4, 25, 9, 36])
        #expect(try run(b, .binary(.maximum), [av, view(row, .float32, [2, 3], strides: [0, 0], offset: 0)], .float32, [2, 3], as: Float.self) == [10, 10, 10, 10, 10, 10])
        let nan = view(try upload(b, [Float](arrayLiteral: .nan, 1)), .float32, [2])
        let ones = view(try upload(b, [Float](arrayLiteral: 0, .nan)), .float32, [2])
        #expect(try run(b, .binary(.maximum), [nan, ones], .float32, [2], as: Float.self).allSatisfy(\.isNaN))
        #expect(try run(b, .binary(.minimum), [nan, ones], .float32, [2], as: Float.self).allSatisfy(\.isNaN))
        // Rank 0 and empty.
        #expect(try run(b, .binary(.add), [view(two, .float32, []), view(two, .float32, [])], .float32, [], as: Float.self) == [4])
        #expect(try run(b, .binary(.add), [view(two, .float32, [0, 3]), view(two, .float32, [0, 3])], .float32, [0, 3], as: Float.self) == [])
    }

    @Test func binaryIntBoolAndComparisons() throws {
        guard let b = openCL() else { return }
        let x = view(try upload(b, [Int32](arrayLiteral: 7, -7, 7, 5, Int32.max, -9)), .int32, [6])
        let y = view(try upload(b, [Int32](arrayLiteral: 2, 2, -2, 0, 1, 4)), .int32, [6])
        #expect(try run(b, .binary(.div), [x, y], .int32, [6], as: Int32.self) == [3, -3, -3, 0, Int32.max, -2])
        #expect(try run(b, .binary(.add), [x, y], .int32, [6], as: Int32.self) == [9, -5, 5, 5, Int32.min, -5])
        #expect(try run(b, .binary(.mul), [x, y], .int32, [6], as: Int32.self) == [14, -14, -14, 0, Int32.max, -36])
        #expect(try run(b, .binary(.maximum), [x, y], .int32, [6], as: Int32.self) == [7, 2, 7, 5, Int32.max, 4])
        #expect(try run(b, .binary(.minimum), [x, y], .int32, [6], as: Int32.self) == [2, -7, -2, 0, 1, -9])
        #expect(try run(b, .binary(.lt), [x, y], .bool, [6], as: UInt8.self) == [0, 1, 0, 0, 0, 1])
        #expect(try run(b, .binary(.ge), [x, y], .bool, [6], as: UInt8.self) == [1, 0, 1, 1, 1, 0])
        let f = view(try upload(b, [Float](arrayLiteral: 1, 2, .nan)), .float32, [3])
        let g = view(try upload(b, [Float](arrayLiteral: 1, 3, .nan)), .float32, [3])
        #expect(try run(b, .binary(.eq), [f, g], .bool, [3], as: UInt8.self) == [1, 0, 0])
        #expect(try run(b, .binary(.ne), [f, g], .bool, [3], as: UInt8.self) == [0, 1, 1])
        #expect(try run(b, .binary(.le), [f, g], .bool, [3], as: UInt8.self) == [1, 1, 0])
        #expect(try run(b, .binary(.gt), [g, f], .bool, [3], as: UInt8.self) == [0, 1, 0])
        let p = view(try upload(b, [UInt8](arrayLiteral: 0, 0, 1, 1)), .bool, [4])
        let q = view(try upload(b, [UInt8](arrayLiteral: 0, 1, 0, 1)), .bool, [4])
        #expect(try run(b, .binary(.logicalAnd), [p, q], .bool, [4], as: UInt8.self) == [0, 0, 0, 1])
        #expect(try run(b, .binary(.logicalOr), [p, q], .bool, [4], as: UInt8.self) == [0, 1, 1, 1])
        #expect(try run(b, .binary(.eq), [p, q], .bool, [4], as: UInt8.self) == [1, 0, 0, 1])
        #expect(!b.supports(.binary(.pow), inputs: [.int32, .int32], output: .int32))
        #expect(!b.supports(.binary(.add), inputs: [.bool, .bool], output: .bool))
    }

    @Test func selectBroadcast() throws {
        guard let b = openCL() else { return }
        let cond = view(try upload(b, [UInt8](arrayLiteral: 1, 0, 1)), .bool, [2, 3], strides: [0, 1])
        let a = view(try upload(b, [Int32](arrayLiteral: 1, 2, 3, 4, 5, 6)), .int32, [2, 3])
        let zero = view(try upload(b, [Int32](arrayLiteral: -1)), .int32, [2, 3], strides: [0, 0])
        #expect(try run(b, .select, [cond, a, zero], .int32, [2, 3], as: Int32.self) == [1, -1, 3, 4, -1, 6])
        let fa = view(try upload(b, [Float](arrayLiteral: 1, 2, 3)), .float32, [3])
        let fb = view(try upload(b, [Float](arrayLiteral: 9, 8, 7)), .float32, [3])
        #expect(try run(b, .select, [view(cond.buffer, .bool, [3]), fa, fb], .float32, [3], as: Float.self) == [1, 8, 3])
    }

    @Test func castAllPairs() throws {
        guard let b = openCL() else { return }
        let sources: [(DType, DeviceBuffer, [Double])] = [
            (.float32, try upload(b, [Float](arrayLiteral: -2.7, 0, 1.5, 3)), [-2.7, 0, 1.5, 3]),
            (.int32, try upload(b, [Int32](arrayLiteral: -3, 0, 5, 1)), [-3, 0, 5, 1]),
            (.bool, try upload(b, [UInt8](arrayLiteral: 1, 0, 1, 1)), [1, 0, 1, 1]),
        ] + (b.supportsFloat64 ? [(.float64, try upload(b, [Double](arrayLiteral: -2.7, 0, 1.5, 3)), [-2.7, 0, 1.5, 3])] : [])
        for (from, buffer, values) in sources {
            for to in DType.allCases where to != .float64 || b.supportsFloat64 {
                let input = view(buffer, from, [4])
                let expected: [Double] = values.map { v in
                    switch to {
                    case .bool: return v != 0 ? 1 : 0
                    case .int32: return v.rounded(.towardZero)
                    case .float32: return Double(Float(v))
                    case .float64: return from == .float32 ? Double(Float(v)) : v
                    }
                }
                let got: [Double]
                switch to {
                case .float32: got = try run(b, .cast, [input], to, [4], as: Float.self).map(Double.init)
                case .float64: got = try run(b, .cast, [input], to, [4], as: Double.self)
                case .int32: got = try run(b, .cast, [input], to, [4], as: Int32.self).map(Double.init)
                case .bool: got = try run(b, .cast, [input], to, [4], as: UInt8.self).map(Double.init)
                }
                #expect(got == expected, "cast \(from) -> \(to)")
            }
        }
    }

    @Test func copyAndFillIntoStridedOutput() throws {
        guard let b = openCL() else { return }
        // out: 4x5 zeros; write aᵀ (a is [3, 2]) into out[1..<3, 1..<4].
        let out = try upload(b, [Float](repeating: 0, count: 20))
        let a = try upload(b, [Float](arrayLiteral: 1, 2, 3, 4, 5, 6))
        try b.execute(.copy, inputs: [view(a, .float32, [2, 3], strides: [1, 2])], output: view(out, .float32, [2, 3], strides: [5, 1], offset: 6))
        // Fill column 4 with 9 and row 3 (first 2 elements) with -1 through a stride-2 view.
        try b.execute(.fill(9), inputs: [], output: view(out, .float32, [4], strides: [5], offset: 4))
        try b.execute(.fill(-1), inputs: [], output: view(out, .float32, [2], strides: [2], offset: 15))
        #expect(try download(b, out, count: 20, as: Float.self) == [
            0, 0, 0, 0, 9,
            0, 1, 3, 5, 9,
            0, 2, 4, 6, 9,
            -1, 0, -1, 0, 9,
        ])
        // Fill a 2-D strided view (strided kernel), int32 and bool, rank 0, empty.
        let ints = try upload(b, [Int32](repeating: 0, count: 6))
        try b.execute(.fill(7.9), inputs: [], output: view(ints, .int32, [2, 2], strides: [3, 2]))
        try b.execute(.fill(3), inputs: [], output: view(ints, .int32, [], offset: 1))
        try b.execute(.fill(5), inputs: [], output: view(ints, .int32, [0, 2]))
        #expect(try download(b, ints, count: 6, as: Int32.self) == [7, 3, 7, 7, 0, 7])
        let mask = try upload(b, [UInt8](repeating: 0, count: 3))
        try b.execute(.fill(0.5), inputs: [], output: view(mask, .bool, [3]))
        #expect(try download(b, mask, count: 3, as: UInt8.self) == [1, 1, 1])
    }

    @Test func copyRankAboveEight() throws {
        guard let b = openCL() else { return }
        // A [2]^10 tensor reversed-permuted: no axes merge, so the host loops over 2 leading axes.
        let n = 1 << 10
        let source = try upload(b, (0..<n).map { Int32($0) })
        let strides = (0..<10).map { 1 << $0 }  // axis d of the view steps by 2^d: a full axis reversal
        let got = try run(b, .copy, [view(source, .int32, [Int](repeating: 2, count: 10), strides: strides)], .int32, [Int](repeating: 2, count: 10), as: Int32.self)
        let expected: [Int32] = (0..<n).map { i in
            var r = 0
            for bit in 0..<10 where i & (1 << bit) != 0 { r |= 1 << (9 - bit) }
            return Int32(r)
        }
        #expect(got == expected)
    }

    // MARK: - Reduce

    @Test func reduceRowsAndColumns() throws {
        guard let b = openCL() else { return }
        // rows path: [2, 1000, 1]: row 0 = 1...1000, row 1 = 0.1 x 1000
        let values = (1...1000).map(Float.init) + [Float](repeating: 0.1, count: 1000)
        let x = view(try upload(b, values), .float32, [2000])
        let sums = try run(b, .reduce(.sum, outer: 2, length: 1000, inner: 1), [x], .float32, [2], as: Float.self)
        #expect(sums[0] == 500_500)
        #expect(abs(Double(sums[1]) - Double(Float(0.1)) * 1000) < 1e-4)
        #expect(try run(b, .reduce(.max, outer: 2, length: 1000, inner: 1), [x], .float32, [2], as: Float.self) == [1000, 0.1])
        #expect(try run(b, .reduce(.min, outer: 2, length: 1000, inner: 1), [x], .float32, [2], as: Float.self) == [1, 0.1])
        #expect(try run(b, .reduce(.argmax, outer: 2, length: 1000, inner: 1), [x], .int32, [2], as: Int32.self) == [999, 0])
        #expect(try run(b, .reduce(.argmin, outer: 2, length: 1000, inner: 1), [x], .int32, [2], as: Int32.self) == [0, 0])
        // A tie late in a long row: first index wins across work-items.
        var tie = [Float](repeating: 0, count: 300)
        tie[260] = 5; tie[7] = 5
        let t = view(try upload(b, tie), .float32, [300])
        #expect(try run(b, .reduce(.argmax, outer: 1, length: 300, inner: 1), [t], .int32, [1], as: Int32.self) == [7])
        // cols path: [2, 3, 2]
        let c: [Int32] = [1, 9, 4, 2, 4, 9, -1, 0, 5, 0, 5, 0]
        let cv = view(try upload(b, c), .int32, [12])
        #expect(try run(b, .reduce(.sum, outer: 2, length: 3, inner: 2), [cv], .int32, [2, 2], as: Int32.self) == [9, 20, 9, 0])
        #expect(try run(b, .reduce(.max, outer: 2, length: 3, inner: 2), [cv], .int32, [2, 2], as: Int32.self) == [4, 9, 5, 0])
        #expect(try run(b, .reduce(.argmax, outer: 2, length: 3, inner: 2), [cv], .int32, [2, 2], as: Int32.self) == [1, 0, 1, 0])
        #expect(try run(b, .reduce(.argmin, outer: 2, length: 3, inner: 2), [cv], .int32, [2, 2], as: Int32.self) == [0, 1, 0, 0])
        // Empty axis and NaN.
        #expect(try run(b, .reduce(.sum, outer: 2, length: 0, inner: 1), [x], .float32, [2], as: Float.self) == [0, 0])
        #expect(try run(b, .reduce(.max, outer: 1, length: 0, inner: 2), [x], .float32, [2], as: Float.self) == [-.infinity, -.infinity])
        #expect(try run(b, .reduce(.min, outer: 1, length: 0, inner: 1), [x], .float32, [1], as: Float.self) == [.infinity])
        #expect(try run(b, .reduce(.argmax, outer: 1, length: 0, inner: 1), [x], .int32, [1], as: Int32.self) == [0])
        var withNaN = [Float](repeating: 1, count: 100)
        withNaN[50] = .nan
        let nv = view(try upload(b, withNaN), .float32, [100])
        #expect(try run(b, .reduce(.max, outer: 1, length: 100, inner: 1), [nv], .float32, [1], as: Float.self)[0].isNaN)
        #expect(try run(b, .reduce(.min, outer: 1, length: 100, inner: 1), [nv], .float32, [1], as: Float.self)[0].isNaN)
        #expect(try run(b, .reduce(.argmax, outer: 1, length: 100, inner: 1), [nv], .int32, [1], as: Int32.self) == [50])
        if b.supportsFloat64 {
            let d = view(try upload(b, [Double](arrayLiteral: 1, 2, 3, 4)), .float64, [4])
            #expect(try run(b, .reduce(.sum, outer: 2, length: 2, inner: 1), [d], .float64, [2], as: Double.self) == [3, 7])
        }
        #expect(!b.supports(.reduce(.sum, outer: 1, length: 1, inner: 1), inputs: [.bool], output: .bool))
    }

    // MARK: - Matmul

    @Test func matmulTransposesAndBatchBroadcast() throws {
        guard let b = openCL() else { return }
        let batch = 2, m = 67, n = 33, k = 45
        let aValues = (0..<(batch * m * k)).map { Float(($0 * 7) % 13) - 6 }
        let bValues = (0..<(batch * k * n)).map { Float(($0 * 5) % 11) - 5 }
        let ab = try upload(b, aValues), bb = try upload(b, bValues)
        let cases: [(String, [Int], [Int])] = [
            ("NN", [m * k, k, 1], [k * n, n, 1]),
            ("TN", [m * k, 1, m], [k * n, n, 1]),  // A stored [batch, k, m]
            ("NT", [m * k, k, 1], [k * n, 1, k]),  // B stored [batch, n, k]
            ("TT, B broadcast", [m * k, 1, m], [0, 1, k]),
        ]
        for (name, sa, sb) in cases {
            let got = try run(b, .matmul, [view(ab, .float32, [batch, m, k], strides: sa), view(bb, .float32, [batch, k, n], strides: sb)],
                              .float32, [batch, m, n], as: Float.self)
            #expect(close(got, naiveMatmul(aValues.map(Double.init), sa, bValues.map(Double.init), sb, batch: batch, m: m, k: k, n: n).map { Float($0) }, tolerance: 1e-5), "\(name)")
        }
        // k = 0 gives zeros; tiny 1x1.
        #expect(try run(b, .matmul, [view(ab, .float32, [1, 3, 0]), view(bb, .float32, [1, 0, 2])], .float32, [1, 3, 2], as: Float.self) == [0, 0, 0, 0, 0, 0])
        let two = try upload(b, [Float](arrayLiteral: 2, 3))
        #expect(try run(b, .matmul, [view(two, .float32, [1, 1, 1]), view(two, .float32, [1, 1, 1], offset: 1)], .float32, [1, 1, 1], as: Float.self) == [6])
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
        let x = try upload(b, [Float](arrayLiteral: 1, 2, 3, 4)), y = try upload(b, [Float](arrayLiteral: 5, 6, 7, 8))
        #expect(try run(b, .matmul, [view(x, .float32, [1, 2, 2]), view(y, .float32, [1, 2, 2])], .float32, [1, 2, 2], as: Float.self) == [19, 22, 43, 50])
        if b.supportsFloat64 {
            let xd = try upload(b, [Double](arrayLiteral: 1, 2, 3, 4)), yd = try upload(b, [Double](arrayLiteral: 5, 6, 7, 8))
            // xᵀ · y = [[1, 3], [2, 4]] · [[5, 6], [7, 8]] = [[26, 30], [38, 44]]
            #expect(try run(b, .matmul, [view(xd, .float64, [1, 2, 2], strides: [4, 1, 2]), view(yd, .float64, [1, 2, 2])], .float64, [1, 2, 2], as: Double.self) == [26, 30, 38, 44])
        }
    }

    // MARK: - Movement

    @Test(arguments: [(OpenCLGEMMTiles.forced32, false), (.forced64, false), (.forced128, false), (.forced128, true)])
    func matmulTileKernelsMatchAFloat64LoopOnTileEdges(tiles: OpenCLGEMMTiles, prefetch: Bool) throws {
        guard openCL() != nil else { return }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        b.gemmTiles = tiles
        b.gemmPrefetch = prefetch
        // (batch, m, k, n, A strides, B strides): row-major, transposed A, transposed B,
        // B broadcast over the batch; m, n past one 128 tile and k not a multiple of 8 or 16.
        let m = 130, k = prefetch ? 35 : 19, n = 257
        let cases: [(Int, [Int], [Int])] = [
            (1, [m * k, k, 1], [k * n, n, 1]),
            (1, [m * k, 1, m], [k * n, n, 1]),
            (1, [m * k, k, 1], [k * n, 1, k]),
            (2, [m * k, k, 1], [0, n, 1]),
        ]
        for (batch, sa, sbs) in cases {
            let a = (0..<(batch * m * k)).map { Double(($0 * 7) % 13) - 6 }
            let bValues = (0..<(k * n)).map { Double(($0 * 5) % 11) - 5 }
            let expected = naiveMatmul(a, sa, bValues, sbs, batch: batch, m: m, k: k, n: n)
            let a32 = try upload(b, a.map { Float($0) }), b32 = try upload(b, bValues.map { Float($0) })
            let got = try run(b, .matmul, [view(a32, .float32, [batch, m, k], strides: sa), view(b32, .float32, [batch, k, n], strides: sbs)],
                              .float32, [batch, m, n], as: Float.self)
            #expect(got.map(Double.init) == expected, "\(tiles) prefetch \(prefetch) float32, strides \(sa) \(sbs)")
            if b.supportsFloat64 {
                let a64 = try upload(b, a), b64 = try upload(b, bValues)
                let got64 = try run(b, .matmul, [view(a64, .float64, [batch, m, k], strides: sa), view(b64, .float64, [batch, k, n], strides: sbs)],
                                    .float64, [batch, m, n], as: Double.self)
                #expect(got64 == expected, "\(tiles) prefetch \(prefetch) float64, strides \(sa) \(sbs)")
            }
        }
    }

    @Test func clblastProductsMatchAFloat64Loop() throws {
        guard openCL() != nil else { return }
        guard CLBlast.library != nil else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("CI installs libclblast1, but it did not load") }
            return
        }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        b.gemmLibrary = .always
        // Row-major, transposed A, transposed B, B broadcast over the batch, and a layout
        // CLBlast cannot take (A with no unit stride), which runs Adjoint's kernel.
        let m = 130, k = 19, n = 40
        let cases: [(Int, [Int], [Int], Int)] = [
            (1, [m * k, k, 1], [k * n, n, 1], 1),
            (1, [m * k, 1, m], [k * n, n, 1], 1),
            (1, [m * k, k, 1], [k * n, 1, k], 1),
            (2, [m * k, k, 1], [0, n, 1], 1),
            (1, [2 * m * k, 2 * k, 2], [k * n, n, 1], 1),
        ]
        for (batch, sa, sbs, launches) in cases {
            let a = (0..<(2 * batch * m * k)).map { Double(($0 * 7) % 13) - 6 }
            let bValues = (0..<(k * n)).map { Double(($0 * 5) % 11) - 5 }
            let expected = naiveMatmul(a, sa, bValues, sbs, batch: batch, m: m, k: k, n: n)
            for dtype in b.supportsFloat64 ? [DType.float32, .float64] : [.float32] {
                let aBuffer = dtype == .float32 ? try upload(b, a.map { Float($0) }) : try upload(b, a)
                let bBuffer = dtype == .float32 ? try upload(b, bValues.map { Float($0) }) : try upload(b, bValues)
                let inputs = [view(aBuffer, dtype, [batch, m, k], strides: sa), view(bBuffer, dtype, [batch, k, n], strides: sbs)]
                let (got, counted) = try LaunchCount.counting {
                    dtype == .float32 ? try run(b, .matmul, inputs, dtype, [batch, m, n], as: Float.self).map(Double.init)
                        : try run(b, .matmul, inputs, dtype, [batch, m, n], as: Double.self)
                }
                #expect(got == expected, "\(dtype), strides \(sa) \(sbs)")
                #expect(counted == launches, "\(dtype), strides \(sa) \(sbs)")
            }
        }
        #expect(CLBlast.operand(rows: 4, columns: 3, rowStride: 3, columnStride: 1)! == (CLBlast.noTranspose, 3))
        #expect(CLBlast.operand(rows: 4, columns: 3, rowStride: 1, columnStride: 4)! == (CLBlast.transpose, 4))
        #expect(CLBlast.operand(rows: 4, columns: 3, rowStride: 6, columnStride: 2) == nil)
        #expect(CLBlast.Use.large.runs(m: 2048, n: 2048, k: 2048) && !CLBlast.Use.large.runs(m: 1024, n: 1024, k: 1024))
        #expect(!CLBlast.Use.always.runs(m: 8, n: 4096, k: 4096) && !CLBlast.Use.never.runs(m: 4096, n: 4096, k: 4096))
    }

    @Test func matrixVectorProductsPerRowMatchTheNaiveKernel() throws {
        guard openCL() != nil else { return }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        b.gemvRowDot = true
        // k not a multiple of 64, a batch of 2 with B broadcast, and a column-major A (which
        // keeps the one-item-per-output kernel).
        let (batch, m, k) = (2, 37, 150)
        let a = (0..<(batch * m * k)).map { Double(($0 * 7) % 13) - 6 }, x = (0..<k).map { Double(($0 * 5) % 11) - 5 }
        for (strides, label) in [([m * k, k, 1], "row-major A"), ([m * k, 1, m], "column-major A")] {
            let expected = naiveMatmul(a, strides, x, [0, 1, 1], batch: batch, m: m, k: k, n: 1)
            let a32 = try upload(b, a.map { Float($0) }), x32 = try upload(b, x.map { Float($0) })
            let got = try run(b, .matmul, [view(a32, .float32, [batch, m, k], strides: strides), view(x32, .float32, [batch, k, 1], strides: [0, 1, 1])],
                              .float32, [batch, m, 1], as: Float.self)
            #expect(got.map(Double.init) == expected, "\(label)")
        }
        #expect(OpenCLGEMMTiles.automatic.kernel(m: 37, n: 1, k: 150, batch: 2, computeUnits: 1, rowMajorA: true, rowDot: true) == .rowDot)
        #expect(OpenCLGEMMTiles.automatic.kernel(m: 37, n: 1, k: 150, batch: 2, computeUnits: 1, rowMajorA: true, rowDot: false) == .naive)
        #expect(OpenCLGEMMTiles.automatic.kernel(m: 37, n: 1, k: 32, batch: 2, computeUnits: 1, rowMajorA: true, rowDot: true) == .naive, "short rows")
    }

    @Test func productsWithFewOutputsSplitKIntoSlicesThatAColumnSumAdds() throws {
        guard openCL() != nil else { return }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        b.splitKUnits = 64
        // (m, k, n, A strides, B strides, launches): a tiled product whose k splits into 4
        // even slices (GEMM + column sum), one whose last slice is shorter (a third launch),
        // a transposed A, and the one-item-per-output kernel (n < 16).
        let cases: [(Int, Int, Int, [Int], [Int], Int)] = [
            (130, 1000, 257, [130 * 1000, 1000, 1], [1000 * 257, 257, 1], 2),
            (130, 1001, 257, [130 * 1001, 1001, 1], [1001 * 257, 257, 1], 3),
            (130, 1001, 257, [130 * 1001, 1, 130], [1001 * 257, 1, 1001], 3),
            (5, 1001, 3, [5 * 1001, 1001, 1], [1001 * 3, 3, 1], 3),
        ]
        for (m, k, n, sa, sbs, launches) in cases {
            let a = (0..<(m * k)).map { Double(($0 * 7) % 13) - 6 }
            let bValues = (0..<(k * n)).map { Double(($0 * 5) % 11) - 5 }
            let expected = naiveMatmul(a, sa, bValues, sbs, batch: 1, m: m, k: k, n: n)
            let a32 = try upload(b, a.map { Float($0) }), b32 = try upload(b, bValues.map { Float($0) })
            let (got, counted) = try LaunchCount.counting {
                try run(b, .matmul, [view(a32, .float32, [1, m, k], strides: sa), view(b32, .float32, [1, k, n], strides: sbs)], .float32, [1, m, n], as: Float.self)
            }
            #expect(got.map(Double.init) == expected, "m \(m) k \(k) n \(n) strides \(sa) \(sbs)")
            #expect(counted == launches, "m \(m) k \(k) n \(n)")
        }
        #expect(OpenCLGEMMTiles.kSlices(.tile64, m: 130, n: 257, k: 1000, computeUnits: 64) == 4)
        #expect(OpenCLGEMMTiles.kSlices(.tile64, m: 128, n: 1024, k: 784, computeUnits: 132) == 4, "W3's first layer at batch 128 on an H200")
        #expect(OpenCLGEMMTiles.kSlices(.tile64, m: 1024, n: 1024, k: 128, computeUnits: 132) == 1, "W3's weight gradient: slices too shallow")
        #expect(OpenCLGEMMTiles.kSlices(.naive, m: 128, n: 10, k: 1024, computeUnits: 132) == 16, "W3's logits")
        #expect(OpenCLGEMMTiles.kSlices(.naive, m: 9, n: 32, k: 100_352, computeUnits: 132) == 256, "a convolution's weight gradient")
        #expect(OpenCLGEMMTiles.kSlices(.tile128, m: 4096, n: 4096, k: 4096, computeUnits: 132) == 1, "enough tiles")
        #expect(OpenCLGEMMTiles.kSlices(.tile64, m: 128, n: 1024, k: 100, computeUnits: 132) == 1, "k too short to slice")
        #expect(OpenCLGEMMTiles.kSlices(.rowDot, m: 1, n: 1, k: 1 << 20, computeUnits: 132) == 1)
    }

    @Test func longColumnReductionsSplitIntoChunks() throws {
        guard openCL() != nil else { return }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        b.splitKUnits = 64
        let (outer, length, inner) = (2, 1000, 10)
        let values: [Double] = (0..<(outer * length * inner)).map { index -> Double in
            let whole = Double((index * 7) % 13) - 6
            return whole + Double(index % 3) * 0.25
        }
        let x = view(try upload(b, values.map { Float($0) }), .float32, [outer * length * inner])
        for op in [ReduceOp.sum, .max, .min] {
            var expected: [Double] = []
            for o in 0..<outer {
                for i in 0..<inner {
                    let column = (0..<length).map { values[(o * length + $0) * inner + i] }
                    expected.append(op == .sum ? column.reduce(0, +) : op == .max ? column.max()! : column.min()!)
                }
            }
            let (got, counted) = try LaunchCount.counting {
                try run(b, .reduce(op, outer: outer, length: length, inner: inner), [x], .float32, [outer, inner], as: Float.self)
            }
            #expect(got.map(Double.init) == expected, "\(op)")
            #expect(counted == 2, "\(op): chunks, then the partials' fold")
        }
        #expect(OpenCLBackend.columnParts(columns: 20, length: 1000, computeUnits: 64) == 16)
        #expect(OpenCLBackend.columnParts(columns: 1024, length: 1024, computeUnits: 132) == 32, "W3's bias gradients at batch 1024")
        #expect(OpenCLBackend.columnParts(columns: 1024, length: 128, computeUnits: 132) == nil, "columns of 128 fold in one pass")
        #expect(OpenCLBackend.columnParts(columns: 1 << 20, length: 1000, computeUnits: 132) == nil, "enough columns")
        #expect(OpenCLBackend.columnParts(columns: 20, length: 40, computeUnits: 132) == nil, "short columns")
    }

    @Test func profilingReadsDeviceTimePerKernel() throws {
        guard openCL() != nil else { return }
        let b = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory(), profiling: true)
        let before = try #require(b.kernelProfile)
        let x = view(try upload(b, [Float](repeating: 1.5, count: 1000)), .float32, [1000])
        for _ in 0..<3 { _ = try run(b, .unary(.exp), [x], .float32, [1000], as: Float.self) }
        _ = try run(b, .reduce(.sum, outer: 1, length: 1000, inner: 1), [x], .float32, [1], as: Float.self)
        let spent = try #require(b.kernelProfile) - before
        #expect(spent.kernels["unary_exp_float32"]?.launches == 3)
        #expect(spent.kernels["reduce_sum_float32_rows"]?.launches == 1)
        #expect(spent.kernels.count == 2, "\(spent.kernels.keys)")
        let summed = spent.kernels.values.reduce(UInt64(0)) { $0 + $1.nanoseconds }
        #expect(spent.busyNanoseconds > 0 && spent.busyNanoseconds <= summed, "busy time counts overlaps once")
        let shared = try SharedOpenCL.backend.get()
        #expect(shared.kernelProfile == nil || OpenCLBackend.profilingRequested, "off unless asked for")
    }

    @Test func gemmKernelChoice() {
        let automatic = OpenCLGEMMTiles.automatic
        #expect(automatic.kernel(m: 4096, n: 4096, batch: 1, computeUnits: 132) == .tile128)
        #expect(automatic.kernel(m: 128, n: 1024, batch: 1, computeUnits: 132) == .tile64, "8 tiles of 128 for 132 SMs")
        #expect(automatic.kernel(m: 128, n: 1024, batch: 1, computeUnits: 2) == .tile128)
        #expect(automatic.kernel(m: 1024, n: 1024, k: 784, batch: 1, computeUnits: 132) == .tile128, "64 tiles in 4 k-slices fill 132 SMs")
        #expect(automatic.kernel(m: 1024, n: 1024, k: 200, batch: 1, computeUnits: 132) == .tile64, "k too short to slice")
        #expect(automatic.kernel(m: 1024, n: 1024, k: 784, batch: 2, computeUnits: 132) == .tile64, "batched products are not sliced")
        #expect(automatic.kernel(m: 127, n: 4096, batch: 1, computeUnits: 1) == .tile64)
        #expect(automatic.kernel(m: 4096, n: 15, batch: 1, computeUnits: 1) == .naive, "a side under 16")
        #expect(OpenCLGEMMTiles.forced64.kernel(m: 4096, n: 4096, batch: 1, computeUnits: 1) == .tile64)
        #expect(OpenCLGEMMTiles.forced32.kernel(m: 4096, n: 4096, batch: 1, computeUnits: 1) == .tile32)
        #expect(OpenCLGEMMTiles.forced128.kernel(m: 128, n: 128, batch: 1, computeUnits: 1000) == .tile128)
        #expect(OpenCLGEMMTiles.forced128.kernel(m: 100, n: 4096, batch: 1, computeUnits: 1) == .tile64)
        #expect(OpenCLGEMMTiles.forced32.kernel(m: 8, n: 4096, batch: 1, computeUnits: 1) == .naive)
    }

    @Test func gatherAndScatterAdd() throws {
        guard let b = openCL() else { return }
        // x: [outer 2, length 3, inner 2]
        let x = view(try upload(b, [Float](arrayLiteral: 0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121)), .float32, [12])
        let idx = view(try upload(b, [Int32](arrayLiteral: 2, 0, 1, 1, 0, 2, 2, 2)), .int32, [8])  // [2, 2, 2]
        #expect(try run(b, .gather(outer: 2, length: 3, count: 2, inner: 2), [x, idx], .float32, [2, 2, 2], as: Float.self)
                == [20, 1, 10, 11, 100, 121, 120, 121])
        let bools = view(try upload(b, [UInt8](arrayLiteral: 1, 0, 0)), .bool, [3])
        let bi = view(try upload(b, [Int32](arrayLiteral: 2, 0, 0)), .int32, [3])
        #expect(try run(b, .gather(outer: 1, length: 3, count: 3, inner: 1), [bools, bi], .bool, [3], as: UInt8.self) == [0, 1, 1])
        // scatterAdd: updates [1, 4, 1], indices with a duplicate and an out-of-range entry.
        let upd = view(try upload(b, [Float](arrayLiteral: 1, 2, 3, 4)), .float32, [4])
        let si = view(try upload(b, [Int32](arrayLiteral: 2, 0, 2, 9)), .int32, [4])
        #expect(try run(b, .scatterAdd(outer: 1, length: 3, count: 4, inner: 1), [upd, si], .float32, [3], as: Float.self) == [2, 0, 4])
        let iu = view(try upload(b, [Int32](arrayLiteral: 1, 2, 3, 4, 5, 6)), .int32, [6])  // [1, 3, 2]
        let ii = view(try upload(b, [Int32](arrayLiteral: 0, 1, 0, 1, 1, 1)), .int32, [6])
        #expect(try run(b, .scatterAdd(outer: 1, length: 2, count: 3, inner: 2), [iu, ii], .int32, [2, 2], as: Int32.self) == [4, 0, 5, 12])
        #expect(try run(b, .scatterAdd(outer: 1, length: 2, count: 0, inner: 1), [iu, ii], .int32, [2], as: Int32.self) == [0, 0])
    }

    // MARK: - Random

    @Test func philoxKnownAnswers() throws {
        // The reference itself against Random123's kat_vectors.
        #expect(philox([0, 0, 0, 0], [0, 0]) == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        #expect(philox([0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff]) == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        #expect(philox([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]) == [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
        guard let b = openCL() else { return }
        let zero = try run(b, .random(.bits, seed: 0, offset: 0), [], .int32, [4], as: Int32.self).map { UInt32(bitPattern: $0) }
        #expect(zero == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let seed: UInt64 = 0x299f_31d0_a409_3822, offset: UInt64 = 0x0370_7344_1319_8a2e
        let bits = try run(b, .random(.bits, seed: seed, offset: offset), [], .int32, [10], as: Int32.self)
        #expect(bits.map { UInt32(bitPattern: $0) } == (0..<10).map { philoxWord($0, seed: seed, offset: offset) })
        let uniform = try run(b, .random(.uniform, seed: seed, offset: offset), [], .float32, [10], as: Float.self)
        #expect(uniform == (0..<10).map { Float(philoxWord($0, seed: seed, offset: offset) >> 8) * 0x1p-24 })
        let normal = try run(b, .random(.normal, seed: 3, offset: 1), [], .float32, [7], as: Float.self)
        let expected: [Float] = (0..<7).map { e in
            let p = e / 2
            let u1 = (Double(philoxWord(2 * p, seed: 3, offset: 1) >> 8) + 1) * 0x1p-24
            let u2 = Double(philoxWord(2 * p + 1, seed: 3, offset: 1) >> 8) * 0x1p-24
            let r = (-2 * Foundation.log(u1)).squareRoot()
            return Float(e % 2 == 0 ? r * Foundation.cos(2 * .pi * u2) : r * Foundation.sin(2 * .pi * u2))
        }
        #expect(close(normal, expected, tolerance: 1e-5))
        if b.supportsFloat64 {
            let u64 = try run(b, .random(.uniform, seed: seed, offset: offset), [], .float64, [10], as: Double.self)
            #expect(u64 == uniform.map(Double.init))
        }
        #expect(!b.supports(.random(.bits, seed: 0, offset: 0), inputs: [], output: .float32))
    }

    @Test func asynchronousLaunchesAreCounted() throws {
        guard openCL() != nil else { return }
        let backend = try OpenCLRuntime.makeOpenCLBackend(deviceIndex: 0, cacheDirectory: OpenCLProgramCache.defaultDirectory())
        let out = try backend.allocate(byteCount: 4 * 1000)
        for step in 0..<5 { try backend.execute(.fill(Double(step)), inputs: [], output: view(out, .float32, [1000])) }
        try backend.synchronize()
        #expect(backend.ledger.launches == 5)
        #expect(try download(backend, out, count: 1000, as: Float.self).allSatisfy { $0 == 4 })
        #expect(backend.ledger.programsCompiled + backend.ledger.programsLoadedFromCache == 1)
    }
}
