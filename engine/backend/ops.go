package backend

import "github.com/gomlx/gomlx/backends"

// implementedOps is what Capabilities reports: exactly the ops this backend
// implements (every other op fails at build time with ErrNotImplemented).
var implementedOps = []backends.OpType{
	backends.OpTypeParameter, backends.OpTypeConstant, backends.OpTypeIdentity,
	backends.OpTypeReshape, backends.OpTypeTranspose, backends.OpTypeBroadcastInDim,
	backends.OpTypeSlice, backends.OpTypeConcatenate, backends.OpTypeGather,
	backends.OpTypeDynamicSlice, backends.OpTypeDynamicUpdateSlice,
	backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv,
	backends.OpTypeMax, backends.OpTypeMin, backends.OpTypePow, backends.OpTypeRem,
	backends.OpTypeLogicalAnd, backends.OpTypeLogicalOr, backends.OpTypeLogicalXor, backends.OpTypeLogicalNot,
	backends.OpTypeEqual, backends.OpTypeNotEqual, backends.OpTypeLessThan, backends.OpTypeLessOrEqual,
	backends.OpTypeGreaterThan, backends.OpTypeGreaterOrEqual,
	backends.OpTypeNeg, backends.OpTypeAbs, backends.OpTypeSign, backends.OpTypeSqrt, backends.OpTypeRsqrt,
	backends.OpTypeExp, backends.OpTypeExpm1, backends.OpTypeLog, backends.OpTypeLog1p, backends.OpTypeTanh,
	backends.OpTypeLogistic, backends.OpTypeErf, backends.OpTypeCos, backends.OpTypeSin,
	backends.OpTypeFloor, backends.OpTypeCeil, backends.OpTypeRound, backends.OpTypeIsFinite, backends.OpTypeIsNaN,
	backends.OpTypeReduceSum, backends.OpTypeReduceProduct, backends.OpTypeReduceMax, backends.OpTypeReduceMin,
	backends.OpTypeArgMinMax, backends.OpTypeIota, backends.OpTypeWhere, backends.OpTypeClamp,
	backends.OpTypeConvertDType, backends.OpTypeDotGeneral, backends.OpTypeBitcast,
	backends.OpTypeFusedSoftmax, backends.OpTypeFusedGelu, backends.OpTypeFusedDense,
	backends.OpTypeFusedQuantizedDense, backends.OpTypeFusedScaledDotProductAttention,
}
