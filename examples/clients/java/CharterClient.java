// Calling `charter serve` from Java 16+ (records, text blocks) with java.net.http only (no JSON library, to keep
// the example to one file: a platform would use Jackson or Gson for the answer).
//
//   charter serve policies --facts examples/requests/facts.json &
//   java examples/clients/java/CharterClient.java
//
// The client fails closed: anything but an answered "allow" (an error status, a timeout,
// an unreadable answer) counts as a deny.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class CharterClient {
    private final HttpClient http;
    private final String base;
    private final String token;

    public CharterClient(String base, String token) {
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(2))
                .build();
        this.base = base;
        this.token = token;
    }

    /** Status and body of one call. */
    public record Answer(int status, String body) {}

    public Answer call(String method, String path, String json, boolean admin) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .timeout(Duration.ofSeconds(5))
                .header("Content-Type", "application/json")
                .method(method, json == null
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(json, StandardCharsets.UTF_8));
        if (admin && token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        return new Answer(r.statusCode(), r.body());
    }

    /** The decision JSON for one request. */
    public Answer decide(String requestJson) throws Exception {
        return call("POST", "/v1/decide", requestJson, false);
    }

    /** True only for an answered allow. */
    public boolean allowed(String requestJson) {
        try {
            Answer a = decide(requestJson);
            return a.status() == 200 && "allow".equals(field(a.body(), "decision"));
        } catch (Exception e) {
            return false;
        }
    }

    /** The first string value of `key` in a JSON text (enough for this example). */
    static String field(String json, String key) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    public static void main(String[] args) throws Exception {
        String url = System.getenv().getOrDefault("CHARTER_URL", "http://127.0.0.1:8877");
        CharterClient c = new CharterClient(url, System.getenv("CHARTER_TOKEN"));

        String request = """
            {"developer": "bank-001", "action": "privacy_compute", "dataset": "tax.enterprise_tax",
             "fields": ["credit_code", "total_tax_amount"], "scenario": "普惠金融",
             "at": "2026-06-01T09:00:00+08:00", "purpose": "小微企业授信审批",
             "consent": {"granted": true, "reference": "SQ-2026-000101"}}
            """;
        Answer a = c.decide(request);
        System.out.println(a.status() + " " + field(a.body(), "decision") + " " + field(a.body(), "decision_id")
                + " because " + field(a.body(), "id") + " (" + field(a.body(), "article") + ")");

        String denied = request.replace("\"privacy_compute\"", "\"export_raw\"");
        System.out.println("export_raw allowed: " + c.allowed(denied));

        Answer batch = c.call("POST", "/v1/decide/batch", "{\"requests\": [" + request + "," + denied + "]}", false);
        long answers = Pattern.compile("\"decision_id\"").matcher(batch.body()).results().count();
        System.out.println("batch: " + batch.status() + ", " + answers + " decisions in order");

        Answer bad = c.decide("{\"developer\": \"bank-001\", \"feilds\": []}");
        System.out.println("malformed: " + bad.status() + " " + field(bad.body(), "code")
                + " field " + field(bad.body(), "field"));

        Answer sweep = c.call("POST", "/v1/sweep", "{\"developer\": \"bank-002\", \"at\": \"2026-06-01\"}", false);
        System.out.println("sweep bank-002: " + field(sweep.body(), "id"));

        Answer bundle = c.call("GET", "/v1/bundle", null, false);
        System.out.println("bundle " + field(bundle.body(), "name") + " " + field(bundle.body(), "version"));
    }
}
