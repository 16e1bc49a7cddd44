/*
 * Test-only Elasticsearch module for the Maven Central "integ-test-zip" distribution.
 *
 * That distribution ships x-pack-security but not the analysis-common module. The security plugin's
 * main index (.security-7) declares an "email" analyzer built from the `uax_url_email` tokenizer and
 * the `pattern_capture` / `unique` token filters, all of which live in analysis-common, so the index
 * cannot be created and everything stored in it (API keys, index-backed service tokens, native users
 * and roles) fails with "Unknown filter type [pattern_capture]".
 *
 * This module registers exactly those three components, implemented on top of the Lucene classes
 * already in the distribution's lib/ directory. It is built by deploy/elasticsearch/es-node.sh with
 * the JDK's javac against the distribution's own jars; nothing here is used in production.
 */
package org.fleetserver.esshim;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.analysis.tokenattributes.PositionIncrementAttribute;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

public final class AnalysisShimPlugin extends Plugin implements AnalysisPlugin {

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
                boolean duplicate = seen.contains(buffer, 0, length);
                if (duplicate == false) {
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
}
