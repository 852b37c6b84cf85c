/**
 * The functions a user's SQL may call on PostgreSQL: built-ins that compute from their arguments only
 * (no SQL text run, no table, file, setting, lock, sequence, session or server touched). Anything else,
 * and any function qualified with a schema other than `pg_catalog`, is refused by the statement guard.
 * Names as the parser gives them (lower case; SQL syntax such as EXTRACT, SUBSTRING ... FROM, TRIM,
 * POSITION, OVERLAY and AT TIME ZONE arrives as the function it calls).
 */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set(
  `
  count sum avg min max every bool_and bool_or bit_and bit_or bit_xor string_agg array_agg json_agg jsonb_agg
  json_object_agg jsonb_object_agg stddev stddev_pop stddev_samp variance var_pop var_samp corr covar_pop covar_samp
  regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy percentile_cont
  percentile_disc mode any_value range_agg
  row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
  abs ceil ceiling floor round trunc sqrt cbrt exp ln log log10 power pow mod sign div pi degrees radians
  sin cos tan cot asin acos atan atan2 sind cosd tand cotd asind acosd atand atan2d sinh cosh tanh asinh acosh atanh
  width_bucket gcd lcm factorial scale min_scale trim_scale random erf erfc
  length char_length character_length octet_length bit_length lower upper initcap btrim ltrim rtrim trim lpad rpad
  substr substring position strpos replace reverse left right repeat split_part concat concat_ws format md5
  sha224 sha256 sha384 sha512 encode decode to_hex ascii chr translate regexp_replace regexp_match regexp_matches
  regexp_split_to_array regexp_split_to_table regexp_like regexp_count regexp_instr regexp_substr starts_with
  quote_ident quote_literal quote_nullable overlay normalize unistr string_to_array string_to_table array_to_string
  convert convert_from convert_to get_bit get_byte set_bit set_byte bit_count crc32 crc32c
  date_trunc date_part extract age make_date make_time make_timestamp make_timestamptz make_interval to_char to_date
  to_timestamp to_number date_bin isfinite justify_days justify_hours justify_interval timezone date_add date_subtract
  now clock_timestamp statement_timestamp transaction_timestamp
  json_build_object jsonb_build_object json_build_array jsonb_build_array to_json to_jsonb row_to_json array_to_json
  json_array_length jsonb_array_length json_extract_path jsonb_extract_path json_extract_path_text
  jsonb_extract_path_text json_typeof jsonb_typeof json_each jsonb_each json_each_text jsonb_each_text
  json_array_elements jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_object_keys
  jsonb_object_keys jsonb_set jsonb_insert jsonb_strip_nulls json_strip_nulls jsonb_pretty jsonb_exists
  jsonb_exists_any jsonb_exists_all jsonb_path_exists jsonb_path_match jsonb_path_query jsonb_path_query_array
  jsonb_path_query_first json_object jsonb_object json_populate_record jsonb_populate_record json_to_record
  jsonb_to_record json_to_recordset jsonb_to_recordset
  array_length array_upper array_lower array_ndims array_dims cardinality unnest array_position array_positions
  array_append array_prepend array_cat array_remove array_replace array_fill trim_array array_shuffle array_sample
  generate_series generate_subscripts
  num_nulls num_nonnulls pg_typeof gen_random_uuid
  int2 int4 int8 float4 float8 numeric text varchar bpchar bool date timestamp timestamptz interval bytea time timetz
  lower_inc upper_inc lower_inf upper_inf isempty int4range int8range numrange daterange tsrange tstzrange
  `
    .split(/\s+/)
    .filter((s) => s !== ''),
);

/**
 * Types a user's SQL may name (in casts and column definitions): PostgreSQL's own scalar, text, time,
 * JSON, array-element and range types. Not `reg*` (their casts look names up in the catalogs) and no
 * type of a table (a cast to it would describe the table).
 */
export const ALLOWED_TYPES: ReadonlySet<string> = new Set(
  `
  bool boolean int2 int4 int8 smallint integer int bigint float4 float8 real double numeric decimal money
  text varchar bpchar char character name bytea date time timetz timestamp timestamptz interval uuid json jsonb
  bit varbit inet cidr macaddr point line lseg box path polygon circle tsvector tsquery xml
  int4range int8range numrange daterange tsrange tstzrange serial bigserial smallserial serial4 serial8 serial2
  `
    .split(/\s+/)
    .filter((s) => s !== ''),
);
