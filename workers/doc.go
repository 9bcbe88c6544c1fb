// Package workers runs the SDK workers that poll routed task queues: one
// worker per queue, all with the same registrations, started and stopped
// together as a [Group]. Which queues a kind's workers must poll is the
// routing package's answer (routing.Table.PollQueues): shard queues,
// overflow queues and pinned queues.
//
// A deployment usually runs one [Group] per queue kind, so that each kind
// scales on its own: the tenant kind's deployment autoscales on its queues'
// backlog, the jobs kind's stays small. A large shard count can be split
// across deployments by giving each a range of shards
// (routing.Table.PollQueues with shards).
//
// # Concurrency limits
//
// Without a budget every worker has the limits of the worker.Options it is
// given, so a group's limits multiply by its number of queues: 32 queues
// with MaxConcurrentActivityExecutionSize 12 may run 384 activities at once
// (and, with the SDK's defaults of 1000, 32,000). Dividing the limit by the
// number of queues instead starves a busy queue while idle ones keep their
// share. A [Budget] ([NewBudget], [WithBudget]) is one limit for all the
// queues of one or more groups: capacity goes to the queues that have work,
// and an idle queue holds none of it. When capacity is short, classes share
// it first ([Class]: by default each group is one; [WithClass] and
// [WithQueueClass] name them, for example one per kind, and a kind's
// overflow queues one of weight 4), then the queues of a class. A class
// under its fair share may go past the limit into the budget's headroom
// ([WithHeadroom]), so it does not wait for a flood's tasks to end; the
// classes over their share pay it back. [Budget.Tuner] serves plain SDK
// workers from the same budget. docs/workers.md has the semantics, the
// lifecycle and the measured costs at hundreds of queues.
//
// # Stopping under traffic
//
// Stopping a Group while its queues still get tasks (scaling in, or
// retiring the workers of an old shard layout whose queues new workers also
// poll) can hand a task to a worker that is stopping; it then waits for its
// timeout before another worker runs it. Give such groups a
// worker.Options.WorkerStopTimeout longer than their longest task (with the
// default, 0, Stop abandons the tasks a worker holds), and have the server
// complete the polls of stopping workers
// (frontend.enableCancelWorkerPollsOnShutdown).
package workers
