package main

import (
	"reflect"
	"sort"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// outputOnly are state properties that are not inputs: never diffed.
var outputOnly = map[string]bool{"stdout": true, "stderr": true}

// replaceOnChanges are inputs whose change replaces the resource (upstream:
// `triggers` is annotated replaceOnChanges). The replacement is created
// before the old resource is deleted (DeleteBeforeReplace=false).
var replaceOnChanges = map[string]bool{"triggers": true}

// diffInputs compares old and new inputs property by property. Any change to
// a replaceOnChanges property replaces; any other change updates (the engine
// then calls Update, which runs `update` or else `create`); no change is a
// no-op. The detailed diff names each changed top-level property so that
// `pulumi preview` prints e.g. `[diff: ~stdin]`. An absent property and a
// null one are the same; an unknown new value counts as a change.
func diffInputs(olds, news map[string]any) *pulumirpc.DiffResponse {
	keys := map[string]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for k := range keys {
		if outputOnly[k] {
			continue
		}
		o, n := olds[k], news[k]
		if reflect.DeepEqual(o, n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case o == nil:
			kind = pulumirpc.PropertyDiff_ADD
		case n == nil:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if replaceOnChanges[k] {
			replaces = append(replaces, k)
			kind = map[pulumirpc.PropertyDiff_Kind]pulumirpc.PropertyDiff_Kind{
				pulumirpc.PropertyDiff_ADD:    pulumirpc.PropertyDiff_ADD_REPLACE,
				pulumirpc.PropertyDiff_DELETE: pulumirpc.PropertyDiff_DELETE_REPLACE,
				pulumirpc.PropertyDiff_UPDATE: pulumirpc.PropertyDiff_UPDATE_REPLACE,
			}[kind]
		}
		diffs = append(diffs, k)
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	sort.Strings(diffs)
	sort.Strings(replaces)
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes:             changes,
		Diffs:               diffs,
		Replaces:            replaces,
		DetailedDiff:        detailed,
		HasDetailedDiff:     true,
		DeleteBeforeReplace: false,
	}
}
