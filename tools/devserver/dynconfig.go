package main

import (
	"fmt"
	"os"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"
)

// dynamicConfig builds the server's dynamic config from three layers, later
// ones winning for a key's unconstrained ("global") value:
//
//  1. defaultDynamicConfig,
//  2. the --dynamic-config-file, parsed by the server's own loader
//     (dynamicconfig.LoadYamlFile, the format of the server's
//     dynamicconfig.FileBasedClient),
//  3. the --dynamic-config-value flags.
//
// A file entry with constraints (taskQueueName, namespace, taskType, ...) is
// kept beside the global value of its key, so it applies where the
// constraints match and the global value everywhere else: the server picks
// the most specific matching entry (dynamicconfig.Collection). A global
// --dynamic-config-value therefore does not hide the file's per-queue
// entries.
//
// The file is read once, at start; edits take effect on restart. Problems
// the server's loader only warns about (an unknown key, a constraint that
// the key never consults) are returned as warnings.
func dynamicConfig(opts *options) (dynamicconfig.StaticClient, []error, error) {
	merged := map[dynamicconfig.Key][]dynamicconfig.ConstrainedValue{}
	setGlobal := func(k string, v any) {
		key := dynamicconfig.MakeKey(k)
		cvs := []dynamicconfig.ConstrainedValue{{Value: v}}
		for _, cv := range merged[key] {
			if cv.Constraints != (dynamicconfig.Constraints{}) {
				cvs = append(cvs, cv)
			}
		}
		merged[key] = cvs
	}
	for k, v := range defaultDynamicConfig() {
		setGlobal(k, v)
	}
	var warnings []error
	if opts.dynamicConfigFile != "" {
		contents, err := os.ReadFile(opts.dynamicConfigFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--dynamic-config-file: %w", err)
		}
		lr := dynamicconfig.LoadYamlFile(contents)
		if err := lr.Err(); err != nil {
			return nil, nil, fmt.Errorf("--dynamic-config-file %s: %w", opts.dynamicConfigFile, err)
		}
		warnings = append(warnings, lr.Warnings...)
		for key, cvs := range lr.Map {
			warnings = append(warnings, unreachableConstraints(key, cvs)...)
			for _, cv := range cvs {
				if cv.Constraints == (dynamicconfig.Constraints{}) {
					setGlobal(key.String(), cv.Value)
				} else {
					merged[key] = append(merged[key], cv)
				}
			}
		}
	}
	for k, v := range opts.dynamicConfig {
		setGlobal(k, v)
	}
	// The server reads a StaticClient concurrently and caches conversions by
	// the identity of the returned slices: build it once, never mutate it.
	dc := make(dynamicconfig.StaticClient, len(merged))
	for k, cvs := range merged {
		dc[k] = cvs
	}
	return dc, warnings, nil
}

// unreachableConstraints reports task-queue constraints that no server
// lookup ever matches. A task queue setting is looked up with, in order,
// namespace+taskQueueName+taskType, namespace+taskQueueName, taskQueueName,
// namespace, and nothing (server v1.32.1, TaskQueueTypedSetting.Get); so a
// taskType constraint needs both namespace and taskQueueName beside it, and
// the server's loader accepts it silently without them.
func unreachableConstraints(key dynamicconfig.Key, cvs []dynamicconfig.ConstrainedValue) []error {
	var warnings []error
	for _, cv := range cvs {
		c := cv.Constraints
		if c.TaskQueueType != enumspb.TASK_QUEUE_TYPE_UNSPECIFIED && (c.Namespace == "" || c.TaskQueueName == "") {
			warnings = append(warnings, fmt.Errorf("key %q: a taskType constraint is only used together with namespace and taskQueueName constraints; this entry never applies", key))
		}
	}
	return warnings
}
