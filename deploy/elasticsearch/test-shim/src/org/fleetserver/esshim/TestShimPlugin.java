/*
 * Test-only Elasticsearch module for Maven Central's "integ-test-zip" distribution, which
 * deploy/elasticsearch/es-node.sh runs for the project's tests. Nothing here is used in production.
 *
 * That distribution ships only the modules transport-netty4, x-pack-core, x-pack-security and apm.
 * Two gaps matter for a Fleet Server backend and are filled here:
 *
 *  1. analysis-common is absent. The security plugin's main index (.security-7) declares an "email"
 *     analyzer built from the `uax_url_email` tokenizer and the `pattern_capture` / `unique` token
 *     filters, all of which live in analysis-common. Without them the index cannot be created and
 *     everything stored in it (API keys, index-backed service tokens, native users and roles) fails
 *     with "Unknown filter type [pattern_capture]". Those three components are registered here, on
 *     top of the Lucene classes already in the distribution's lib/ directory.
 *
 *  2. rest-root is absent, so `GET /` (the "info" call most clients make first) answers 405.
 *     `GET /` and `HEAD /` are provided here with the same body as the real handler. The cluster
 *     name and UUID come from a cluster-state request made as the caller, so, as with the real
 *     cluster:monitor/main action, the caller needs the `monitor` cluster privilege.
 *
 * It is compiled by es-node.sh with the JDK's javac against the distribution's own jars.
 */
package org.fleetserver.esshim;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.elasticsearch.Build;
import org.elasticsearch.action.admin.cluster.state.ClusterStateRequest;
import org.elasticsearch.action.admin.cluster.state.ClusterStateResponse;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNode;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.core.TimeValue;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.rest.action.RestBuilderListener;
import org.elasticsearch.xcontent.XContentBuilder;

import java.io.IOException;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Pattern;

public final class TestShimPlugin extends Plugin implements AnalysisPlugin, ActionPlugin {

    // ----------------------------------------------------------------------------------------
    // analysis components needed by the .security-7 index
    // ----------------------------------------------------------------------------------------

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "pattern_capture", AnalysisPlugin.requiresAnalysisSettings((indexSettings, env, name, settings) -> {
                List<String> regexes = settings.getAsList("patterns");
                if (regexes.isEmpty()) {
                    throw new IllegalArgumentException("required setting 'patterns' is missing for token filter [" + name + "]");
                }
                Pattern[] patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
                boolean preserveOriginal = settings.getAsBoolean("preserve_original", true);
                return filterFactory(name, in -> new PatternCaptureGroupTokenFilter(in, preserveOriginal, patterns));
            }),
            "unique", (indexSettings, env, name, settings) -> {
                boolean onlyOnSamePosition = settings.getAsBoolean("only_on_same_position", false);
                return filterFactory(name, in -> new UniqueTokenFilter(in, onlyOnSamePosition));
            }
        );
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("uax_url_email", (indexSettings, env, name, settings) -> {
            int maxTokenLength = settings.getAsInt("max_token_length", 255);
            return TokenizerFactory.newFactory(name, () -> {
                UAX29URLEmailTokenizer tokenizer = new UAX29URLEmailTokenizer();
                tokenizer.setMaxTokenLength(maxTokenLength);
                return tokenizer;
            });
        });
    }

    private interface FilterCtor {
        TokenStream wrap(TokenStream in);
    }

    private static TokenFilterFactory filterFactory(String name, FilterCtor ctor) {
        return new TokenFilterFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public TokenStream create(TokenStream tokenStream) {
                return ctor.wrap(tokenStream);
            }
        };
    }

    /** Drops tokens whose text was already emitted (in the whole stream, or at the same position only). */
    static final class UniqueTokenFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final PositionIncrementAttribute posInc = addAttribute(PositionIncrementAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);
        private final boolean onlyOnSamePosition;

        UniqueTokenFilter(TokenStream in, boolean onlyOnSamePosition) {
            super(in);
            this.onlyOnSamePosition = onlyOnSamePosition;
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                char[] buffer = term.buffer();
                int length = term.length();
                if (onlyOnSamePosition && posInc.getPositionIncrement() > 0) {
                    seen.clear();
                }
                if (seen.contains(buffer, 0, length) == false) {
                    char[] copy = new char[length];
                    System.arraycopy(buffer, 0, copy, 0, length);
                    seen.add(copy);
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }

    // ----------------------------------------------------------------------------------------
    // GET / and HEAD /
    // ----------------------------------------------------------------------------------------

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new RestRootAction(nodesInCluster));
    }

    static final class RestRootAction extends BaseRestHandler {
        private final Supplier<DiscoveryNodes> nodes;

        RestRootAction(Supplier<DiscoveryNodes> nodes) {
            this.nodes = nodes;
        }

        @Override
        public String getName() {
            return "fleet_test_shim_main_action";
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
            ClusterStateRequest stateRequest = new ClusterStateRequest(TimeValue.timeValueSeconds(30)).clear().metadata(true);
            stateRequest.local(true);
            return channel -> client.admin().cluster().state(stateRequest, new RestBuilderListener<ClusterStateResponse>(channel) {
                @Override
                public RestResponse buildResponse(ClusterStateResponse response, XContentBuilder builder) throws Exception {
                    Build build = Build.current();
                    DiscoveryNode local = nodes.get().getLocalNode();
                    builder.startObject();
                    builder.field("name", local == null ? "" : local.getName());
                    builder.field("cluster_name", response.getClusterName().value());
                    builder.field("cluster_uuid", response.getState().metadata().clusterUUID());
                    builder.startObject("version")
                        .field("number", build.qualifiedVersion())
                        .field("build_flavor", build.flavor())
                        .field("build_type", build.type().displayName())
                        .field("build_hash", build.hash())
                        .field("build_date", build.date())
                        .field("build_snapshot", build.isSnapshot())
                        .field("lucene_version", org.apache.lucene.util.Version.LATEST.toString())
                        .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
                        .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
                        .endObject();
                    builder.field("tagline", "You Know, for Search");
                    builder.endObject();
                    return new RestResponse(RestStatus.OK, builder);
                }
            });
        }
    }
}
