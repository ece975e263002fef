package backend

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

func execCopy(_ *state, _ *node, ins []*Buffer, out *Buffer) error {
	copy(out.raw, ins[0].raw)
	return nil
}

// Bitcast implements backends.Function for dtypes of equal bit width.
func (f *Function) Bitcast(x backends.Value, targetDType dtypes.DType) (backends.Value, error) {
	n, err := f.value(backends.OpTypeBitcast, x)
	if err != nil {
		return nil, err
	}
	if !dtypeSupported(targetDType) || targetDType.Size() != n.shape.DType.Size() || targetDType == dtypes.Bool || n.shape.DType == dtypes.Bool {
		return nil, fmt.Errorf("backend %s: Bitcast %s to %s: %w", Name, n.shape, targetDType, backends.ErrNotImplemented)
	}
	shape := n.shape.Clone()
	shape.DType = targetDType
	return f.newNode(backends.OpTypeBitcast, shape, execCopy, n), nil
}
