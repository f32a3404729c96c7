/**
 * Ready {@link io.varvedb.Codec}s. {@link io.varvedb.codec.BytesMarshallableCodec} needs the optional Chronicle
 * Bytes dependency and its JVM flags; nothing else in VarveDB does.
 */
package io.varvedb.codec;
