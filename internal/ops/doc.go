// Package ops is what the tqrouter command does against a live Temporal
// server, kept apart from flag parsing and printing so that tests can call
// it: the weights file and the fairness weight overrides it becomes
// ([ParseWeights], [PlanWeights], [ApplyWeights], [ReadOverrides]), the
// checks of [Doctor], and each kind's backlog for autoscalers ([Backlog]).
// Every question about a queue goes through one DescribeTaskQueue call
// (describe).
//
// Everything here asks package routing where a tenant's starts can land and
// which queues a kind's workers poll; nothing builds a queue name itself.
//
// Fairness weight overrides and per-key rate limits rest on Temporal's task
// queue fairness, an experimental server feature (tested with server
// v1.32.1; matching.enableFairness must be on).
package ops
