import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// The main job's pieces: IDX reading, batching, and short training runs on the real data.
@Suite struct FashionMNISTTests {
    static let directory = FashionMNIST.defaultDirectory

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("adjoint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// An IDX file of unsigned bytes: magic, big-endian dimensions, payload.
    func idxBytes(dimensions: [Int], payload: [UInt8]) -> Data {
        var data = Data([0, 0, 0x08, UInt8(dimensions.count)])
        for extent in dimensions { data.append(contentsOf: [UInt8(extent >> 24 & 255), UInt8(extent >> 16 & 255), UInt8(extent >> 8 & 255), UInt8(extent & 255)]) }
        data.append(contentsOf: payload)
        return data
    }

    func gzip(_ url: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-f", url.path]
        try process.run()
        process.waitUntilExit()
    }

    /// The `adjoint` executable built next to the test bundle (recorded as an issue if missing).
    static func adjointExecutable() -> URL? {
        let binary = Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("adjoint")
        let candidates = [binary, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("adjoint")]
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            Issue.record("the adjoint executable is not built next to the tests (swift build --build-tests builds it)")
            return nil
        }
        return executable
    }

    /// `adjoint check` passes on every device for an op and fails (exit 1) when the
    /// tolerance cannot be met, naming the op.
    @Test(arguments: TestDevices.all)
    func checkCommandComparesOpsWithTheCPU(device: Device) throws {
        guard let executable = Self.adjointExecutable() else { return }
        func check(_ arguments: [String]) throws -> (status: Int32, output: String) {
            let process = Process(), pipe = Pipe()
            process.executableURL = executable
            process.arguments = ["check", "--device", "\(device)"] + arguments
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let passing = try check(["--only", "matmul"])
        #expect(passing.status == 0 && passing.output.contains("ok   matmul") && passing.output.contains(" passed, 0 failed"), "\(passing.output)")
        let impossible = try check(["--only", "softmax", "--tolerance=-1"])
        #expect(impossible.status == 1 && impossible.output.contains("FAIL softmax") && impossible.output.contains("0 passed, 1 failed"), "\(impossible.output)")
        let programs = try check(["--only", "no op", "--random-programs", "3", "--random-program-seed", "5"])
        #expect(programs.status == 0 && programs.output.contains("random programs: 3 passed, 0 failed"), "\(programs.output)")
    }

    /// Whether the dataset is installed; under CI its absence is a failure.
    func requireDataset() -> Bool {
        if FileManager.default.fileExists(atPath: Self.directory.appendingPathComponent("train-images-idx3-ubyte.gz").path) { return true }
        if TestDevices.isCI { Issue.record("no Fashion-MNIST under CI=true: scripts/install-deps installs dataset-fashion-mnist") }
        else { print("note: no Fashion-MNIST at \(Self.directory.path); training checks skipped") }
        return false
    }

    @Test func idxReaderReadsPlainAndGzipAndRejectsBadFiles() throws {
        let folder = try temporaryDirectory()
        let payload = (0..<24).map { UInt8($0 * 10) }
        let plain = folder.appendingPathComponent("images-idx3-ubyte")
        try idxBytes(dimensions: [2, 3, 4], payload: payload).write(to: plain)
        let read = try IDXReader.read(plain)
        #expect(read.dimensions == [2, 3, 4] && read.bytes == payload)
        try gzip(plain)
        let compressed = folder.appendingPathComponent("images-idx3-ubyte.gz")
        #expect(try IDXReader.read(compressed).bytes == payload)

        func expectFailure(_ data: Data, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let url = folder.appendingPathComponent("bad-\(UUID().uuidString)")
            try data.write(to: url)
            do {
                _ = try IDXReader.read(url)
                Issue.record("no error for \(fragment)", sourceLocation: sourceLocation)
            } catch let error as AdjointError {
                #expect(error.description.contains(url.path), "the message names the file", sourceLocation: sourceLocation)
                #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
            }
        }
        try expectFailure(idxBytes(dimensions: [2, 3, 4], payload: Array(payload.prefix(20))), "truncated")
        try expectFailure(Data([1, 2, 8, 1, 0, 0, 0, 1, 5]), "not an IDX file")
        try expectFailure(Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]), "element type")
        let gzipped = try Data(contentsOf: compressed)
        try expectFailure(gzipped.prefix(gzipped.count / 2), "truncated gzip stream")
        var corrupt = gzipped
        for index in 12..<(corrupt.count - 8) { corrupt[index] ^= 0x5A }
        try expectFailure(corrupt, "gzip")
    }

    @Test(arguments: TestDevices.all)
    func dataLoaderBatchesShufflesAndScales(device: Device) throws {
        let pixels = (0..<(10 * 4)).map { UInt8($0 % 256) }
        let data = LabeledImages(pixels: pixels, labels: (0..<10).map { UInt8($0) }, rows: 2, columns: 2)
        let keepLast = DataLoader(data, batchSize: 4, shuffle: false, device: device)
        #expect(keepLast.batchCount == 3)
        let batches = Array(keepLast.batches(epoch: 0))
        #expect(batches.map { $0.images.shape } == [[4, 4], [4, 4], [2, 4]])
        #expect(try batches[2].labels.scalars(as: Int32.self) == [8, 9])
        expectClose(batches[0].images[1], [4, 5, 6, 7].map { $0 / 255 })
        let dropLast = DataLoader(data, batchSize: 4, shuffle: true, seed: 3, dropLast: true, flatten: false, device: device)
        #expect(dropLast.batchCount == 2)
        #expect(Array(dropLast.batches(epoch: 0))[0].images.shape == [4, 1, 2, 2])
        #expect(dropLast.order(epoch: 0) == dropLast.order(epoch: 0), "same seed and epoch, same order")
        #expect(dropLast.order(epoch: 0) != dropLast.order(epoch: 1), "a new order each epoch")
        #expect(dropLast.order(epoch: 1).sorted() == Array(0..<10))
        let labels = try Array(dropLast.batches(epoch: 1)).flatMap { try $0.labels.scalars(as: Int32.self) }
        #expect(labels == dropLast.order(epoch: 1).prefix(8).map { Int32($0) }, "labels follow the shuffled order")
    }

    @Test func fashionMNISTLoadsAndAReducedMLPRunClearsItsFloor() throws {
        guard requireDataset() else { return }
        let train = try FashionMNIST.load(train: true), test = try FashionMNIST.load(train: false)
        #expect(train.count == 60_000 && test.count == 10_000 && train.rows == 28 && train.columns == 28)
        #expect(Set(test.labels).count == 10)
        let model = Classifier.make(.mlp, seed: 0, on: .cpu)
        let step = Classifier.makeStep(model: model, optimizer: Classifier.optimizer("adam", for: model, learningRate: 1e-3)!, learningRate: 1e-3)
        let loader = DataLoader(train.prefix(12_800), batchSize: 128, seed: 0, dropLast: true, device: .cpu)
        for (images, labels) in loader.batches(epoch: 0) { _ = step(images, labels) }
        let accuracy = try Classifier.accuracy(of: model, on: test, kind: .mlp, device: .cpu)
        #expect(accuracy > 0.76, "reduced run (12,800 images, 1 epoch) reached \(accuracy)")
    }

    /// Same seed, same device: the same losses and accuracy; CPU and OpenCL agree.
    @Test func trainingIsReproducibleAndAgreesAcrossDevices() throws {
        guard requireDataset() else { return }
        let train = try FashionMNIST.load(train: true).prefix(1280), test = try FashionMNIST.load(train: false).prefix(1000)
        func run(_ device: Device) throws -> (losses: [Double], accuracy: Double) {
            let model = Classifier.make(.mlp, seed: 5, on: device)
            let step = Classifier.makeStep(model: model, optimizer: Classifier.optimizer("adam", for: model, learningRate: 1e-3)!, learningRate: 1e-3)
            let losses = try DataLoader(train, batchSize: 128, seed: 5, device: device).batches(epoch: 0).map { try step($0.images, $0.labels).item(as: Float.self) }.map(Double.init)
            return (losses, try Classifier.accuracy(of: model, on: test, kind: .mlp, device: device))
        }
        let first = try run(.cpu), second = try run(.cpu)
        #expect(first.losses == second.losses && first.accuracy == second.accuracy)
        guard let openCL = TestDevices.requireOpenCL() else { return }
        let other = try run(openCL)
        expectClose(other.losses, first.losses, tolerance: 1e-4)
        #expect(Swift.abs(other.accuracy - first.accuracy) <= 0.002)
    }

    /// The jitted training step (`adjoint train --jit`) follows the eager one step for step.
    @Test(arguments: TestDevices.all)
    func jittedTrainingStepMatchesEager(device: Device) throws {
        guard requireDataset() else { return }
        let train = try FashionMNIST.load(train: true).prefix(640)
        func losses(jitted: Bool) throws -> [Double] {
            let model = Classifier.make(.mlp, seed: 2, on: device)
            let optimizer = Classifier.optimizer("adam", for: model, learningRate: 1e-3)!
            let step = Classifier.makeStep(model: model, optimizer: optimizer, learningRate: 1e-3, jitted: jitted)
            return try DataLoader(train, batchSize: 64, seed: 2, device: device).batches(epoch: 0).map { try step($0.images, $0.labels).item(as: Float.self) }.map(Double.init)
        }
        let eager = try losses(jitted: false), jitted = try losses(jitted: true)
        #expect(eager.count == 10)
        expectClose(jitted, eager, tolerance: 1e-4)
    }

    /// Ctrl-C during `adjoint train` exits 130 and leaves the last complete checkpoint loadable.
    @Test func interruptingTrainingKeepsTheLastCheckpoint() throws {
        guard requireDataset() else { return }
        guard let executable = Self.adjointExecutable() else { return }
        let output = try temporaryDirectory()
        let process = Process()
        process.executableURL = executable
        process.arguments = ["train", "--device", "cpu", "--train-limit", "1280", "--epochs", "1000", "--output", output.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = output.appendingPathComponent("model.safetensors")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: checkpoint.path) && Date() < deadline && process.isRunning { usleep(50_000) }
        usleep(100_000)
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let metadata = try Checkpoint.metadata(checkpoint)
        #expect(metadata["model"] == "mlp" && Int(metadata["epochs"] ?? "0")! >= 1)
        let model = Classifier.make(.mlp, seed: 1, on: .cpu)
        try model.load(from: checkpoint)
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("training.svg").path))
    }
}
