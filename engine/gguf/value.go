package gguf

import "fmt"

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, numbered as in the GGUF specification.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

// String returns the specification's name for t, e.g. "UINT32".
func (t ValueType) String() string {
	switch t {
	case ValueUint8:
		return "UINT8"
	case ValueInt8:
		return "INT8"
	case ValueUint16:
		return "UINT16"
	case ValueInt16:
		return "INT16"
	case ValueUint32:
		return "UINT32"
	case ValueInt32:
		return "INT32"
	case ValueFloat32:
		return "FLOAT32"
	case ValueBool:
		return "BOOL"
	case ValueString:
		return "STRING"
	case ValueArray:
		return "ARRAY"
	case ValueUint64:
		return "UINT64"
	case ValueInt64:
		return "INT64"
	case ValueFloat64:
		return "FLOAT64"
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// Known reports whether t is a value type of GGUF v3.
func (t ValueType) Known() bool { return t <= ValueFloat64 }

// fixedSize is the encoded size of a scalar of type t; 0 for STRING and
// ARRAY, whose size depends on their contents.
func (t ValueType) fixedSize() int {
	switch t {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest possible encoding of a value of type t, used to
// reject counts that the remaining input could not possibly hold.
func (t ValueType) minSize() int {
	switch t {
	case ValueString:
		return 8 // length prefix
	case ValueArray:
		return 12 // element type + count
	}
	return t.fixedSize()
}

// Primitive lists the Go types that map onto GGUF scalar value types.
type Primitive interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 |
		float32 | float64 | bool | string
}

// Value is one metadata value. Scalars hold the matching Go type (uint32 for
// UINT32, string for STRING, ...). Arrays of scalars hold a Go slice of that
// type ([]string, []float32, ...); arrays of arrays hold []Value. Build values
// with Scalar, Array and ArrayOfArrays.
type Value struct {
	typ  ValueType
	elem ValueType // element type when typ is ValueArray
	x    any
}

// Scalar returns the metadata value holding x.
func Scalar[T Primitive](x T) Value {
	return Value{typ: valueTypeOf[T](), x: x}
}

// Array returns an array value holding xs. The slice is not copied.
func Array[T Primitive](xs []T) Value {
	return Value{typ: ValueArray, elem: valueTypeOf[T](), x: xs}
}

// ArrayOfArrays returns an array whose elements are themselves arrays (each
// may have its own element type). ggml's own reader refuses such values, but
// the GGUF specification allows them.
func ArrayOfArrays(xs []Value) Value {
	return Value{typ: ValueArray, elem: ValueArray, x: xs}
}

func valueTypeOf[T Primitive]() ValueType {
	var zero T
	t, _, _ := kindOf(zero)
	return t
}

// Type returns the value's type tag.
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array value; it is meaningless for
// scalars.
func (v Value) ElemType() ValueType { return v.elem }

// Any returns the Go representation described on Value.
func (v Value) Any() any { return v.x }

// asUint returns v as an unsigned integer if it is an integer type holding a
// non-negative value.
func (v Value) asUint() (uint64, bool) {
	switch x := v.x.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := v.asInt(); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

// asInt returns v as a signed integer if it is an integer type whose value
// fits in an int64.
func (v Value) asInt() (int64, bool) {
	switch x := v.x.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), true
		}
	}
	return 0, false
}

// KV is one metadata key-value pair.
type KV struct {
	Key   string
	Value Value
}
