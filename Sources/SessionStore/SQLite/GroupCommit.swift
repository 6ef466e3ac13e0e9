import GRDB

/// Many tasks' writes in one SQLite transaction: one commit, so one sync of the WAL to disk, for a batch rather
/// than one per write (the sync, not the work, was what a webhook cost; see BENCHMARKS.md).
///
/// Writes run in arrival order inside `BEGIN IMMEDIATE`, each seeing the ones before it, each in its own
/// savepoint: one that throws is rolled back alone and its caller gets the error. No caller hears of success
/// before the whole batch is committed, so an acknowledged write is as durable as with a transaction of its own.
actor GroupCommit {
    /// What to tell a write's caller once its batch has committed.
    typealias Answer = @Sendable () -> Void

    private struct Write: Sendable {
        /// Runs inside the batch's transaction.
        let run: @Sendable (Database) -> Answer
        /// The batch did not commit: nothing of this write happened.
        let fail: @Sendable (any Error) -> Void
    }

    private let writer: any DatabaseWriter
    private let maxBatch: Int
    private var pending: [Write] = []
    private var committing = false

    init(writer: any DatabaseWriter, maxBatch: Int = 256) {
        self.writer = writer
        self.maxBatch = maxBatch
    }

    /// Runs `body` in the next batch and returns its result once that batch is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(
                Write(
                    run: { db in
                        do {
                            var result: T?
                            try db.inSavepoint {
                                result = try body(db)
                                return .commit
                            }
                            guard let result else { return { continuation.resume(throwing: DatabaseError(message: "no result")) } }
                            return { continuation.resume(returning: result) }
                        } catch {
                            return { continuation.resume(throwing: error) }
                        }
                    },
                    fail: { error in continuation.resume(throwing: error) }
                )
            )
            if !committing {
                committing = true
                // The batch's commit outlives the write that began it, whose caller waits only for its own answer;
                // every write of the batch, that one included, is answered by it.
                Task { await commitPending() }
            }
        }
    }

    /// Commits batches until none is waiting; writes that arrive during a commit form the next batch.
    private func commitPending() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let answers = try await writer.write { db in batch.map { $0.run(db) } }
                for answer in answers { answer() }
            } catch {
                for write in batch { write.fail(error) }
            }
        }
        committing = false
    }
}
