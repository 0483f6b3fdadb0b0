import Foundation
import Testing
@testable import Adjoint

/// The CPU backend's worker pool (`CPUParallel`, `CParallel`): every iteration runs once,
/// whoever calls and however calls nest or overlap.
@Suite struct CPUParallelTests {
    /// Runs `perform(iterations:)` and returns how often each iteration ran.
    static func counts(_ iterations: Int, work: (Int) -> Void = { _ in }) -> [Int] {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(iterations, 1))
        hits.initialize(repeating: 0, count: max(iterations, 1))
        defer { hits.deallocate() }
        CPUParallel.perform(iterations: iterations) { index in
            work(index)
            hits[index] += 1
        }
        return Array(UnsafeBufferPointer(start: hits, count: iterations))
    }

    @Test func everyIterationRunsExactlyOnce() {
        #expect(CPUParallel.threadCount >= 1)
        for iterations in [0, 1, 2, 3, 8, 1000] {
            #expect(Self.counts(iterations) == [Int](repeating: 1, count: iterations), "\(iterations) iterations")
        }
        // Uneven work: a slow first iteration leaves the rest to whoever is free.
        #expect(Self.counts(16) { if $0 == 0 { Thread.sleep(forTimeInterval: 0.002) } } == [Int](repeating: 1, count: 16))
    }

    @Test func loopsInsideLoopsRunOnTheirCallersThread() {
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 8 * 50)
        inner.initialize(repeating: 0, count: 8 * 50)
        defer { inner.deallocate() }
        let outer = Self.counts(8) { row in
            CPUParallel.perform(iterations: 50) { column in inner[row * 50 + column] += 1 }
        }
        #expect(outer == [Int](repeating: 1, count: 8))
        #expect(Array(UnsafeBufferPointer(start: inner, count: 8 * 50)) == [Int](repeating: 1, count: 8 * 50))
    }

    @Test func loopsFromSeveralThreadsAtOnceEachRunWhole() {
        final class Failures: @unchecked Sendable {
            let lock = NSLock()
            var list: [String] = []
            func withLock<T>(_ body: (inout [String]) -> T) -> T { lock.withLock { body(&list) } }
        }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for round in 0..<200 {
                let iterations = 1 + (thread * 7 + round) % 64
                if Self.counts(iterations) != [Int](repeating: 1, count: iterations) {
                    failures.withLock { $0.append("thread \(thread), round \(round)") }
                }
            }
        }
        #expect(failures.withLock { $0.isEmpty }, "\(failures.withLock { $0.prefix(5) })")
    }

    @Test func rangesCoverTheCountOnce() {
        for (count, grain) in [(0, 10), (5, 10), (1_000, 10), (131_073, 4_096), (7, 1)] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
            hits.initialize(repeating: 0, count: max(count, 1))
            CPUParallel.forEachRange(count: count, grain: grain) { range in
                for index in range { hits[index] += 1 }
            }
            #expect(Array(UnsafeBufferPointer(start: hits, count: count)) == [Int](repeating: 1, count: count), "\(count) by \(grain)")
            hits.deallocate()
        }
    }
}
