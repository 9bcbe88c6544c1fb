package ops

import (
	"fmt"
	"io"
)

// WriteDynamicConfig writes the server dynamic config (the YAML of the
// server's file-based dynamic config) that routed queues need: partitions
// read and write partitions each, because fairness orders tasks only
// within a partition, and fairness on, because the router's fairness keys
// and weights are ignored without it. Every entry is constrained by the
// queue's name, and by namespace unless it is empty. Queue names match
// exactly: the server has no wildcards.
func WriteDynamicConfig(w io.Writer, namespace string, queues []Queue, partitions int) error {
	keys := []struct{ key, value string }{
		{"matching.numTaskqueueReadPartitions", fmt.Sprint(partitions)},
		{"matching.numTaskqueueWritePartitions", fmt.Sprint(partitions)},
		{"matching.enableFairness", "true"},
	}
	ns := ""
	if namespace != "" {
		ns = fmt.Sprintf("      namespace: %q\n", namespace)
	}
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s:\n", k.key); err != nil {
			return err
		}
		for _, q := range queues {
			if _, err := fmt.Fprintf(w, "  - value: %s\n    constraints:\n%s      taskQueueName: %q\n", k.value, ns, q.Name); err != nil {
				return err
			}
		}
	}
	return nil
}
