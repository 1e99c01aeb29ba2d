/* test_reflection.c - the embedded descriptor set agrees with the served
 * services (gateway/services/reflection.h): every service, method and message type
 * that the gateway serves can be found by reflection, so the descriptor set
 * and the protobuf-c code cannot drift apart. */
#include "gateway/services/reflection.h"
#include "gateway/service_table.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void init(void) {
    char err[512];
    cr_assert_eq(reflection_init(services_descriptors, SERVICES_N, err, sizeof err), 0, "%s", err);
}

Test(reflection, every_served_service_method_and_type_is_found) {
    init();
    char name[512];
    for (size_t i = 0; i < SERVICES_N; i++) {
        const ProtobufCServiceDescriptor *sd = services_descriptors[i];
        cr_assert_not_null(reflection_file_of_symbol(sd->name), "service %s", sd->name);
        for (unsigned m = 0; m < sd->n_methods; m++) {
            snprintf(name, sizeof name, "%s.%s", sd->name, sd->methods[m].name);
            cr_assert_not_null(reflection_file_of_symbol(name), "method %s", name);
            const ProtobufCMessageDescriptor *io[2] = {sd->methods[m].input, sd->methods[m].output};
            for (int k = 0; k < 2; k++) {
                cr_assert_not_null(reflection_file_of_symbol(io[k]->name), "type %s", io[k]->name);
                for (unsigned f = 0; f < io[k]->n_fields; f++) {
                    snprintf(name, sizeof name, "%s.%s", io[k]->name, io[k]->fields[f].name);
                    cr_assert_not_null(reflection_file_of_symbol(name), "field %s", name);
                }
            }
        }
    }
}

Test(reflection, files_and_unknown_symbols) {
    init();
    cr_assert_str_eq(reflection_file_of_symbol("carbon.v1.Registry.GetAccount"),
                     "carbon/v1/carbon.proto");
    cr_assert_str_eq(reflection_file_of_symbol("grpc.health.v1.HealthCheckResponse.ServingStatus"),
                     "grpc/health/v1/health.proto");
    cr_assert_str_eq(reflection_file_of_symbol("grpc.reflection.v1alpha.ServerReflection"),
                     "grpc/reflection/v1alpha/reflection.proto");
    cr_assert_str_eq(reflection_file_of_symbol("grpc.health.v1.HealthCheckResponse.SERVING"),
                     "grpc/health/v1/health.proto"); /* enum values beside their enum */
    cr_assert_null(reflection_file_of_symbol("carbon.v1"));
    cr_assert_null(reflection_file_of_symbol("carbon.v1.Registry.NoSuchMethod"));
    cr_assert_null(reflection_file_of_symbol(""));
    char err[512];
    cr_assert_eq(reflection_init(services_descriptors, SERVICES_N, err, sizeof err), 0, "a second init returns the first result");
}
